function __oomctl_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __oomctl_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __oomctl_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __oomctl_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __oomctl_parse_tokens -S
    set -l unparsed_tokens (__oomctl_tokens -pc)
    switch $unparsed_tokens[1]
    case 'oomctl'
        __oomctl_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'watch'
            __oomctl_parse_subcommand -r 1 'pid=+' 'recursive' 'system' 'min-available=' 'min-swap-free=' 'cooldown=' 'max-check-interval=' 'under=+' 'on=' 'pressure=' 'hook=+' 'post-kill=+' 'hook-timeout=' 'kill=' 'process' 'prefer=+' 'avoid=+' 'protect=+' 'protect-cgroup=+' 'priority=+' 'signal=' 'grace=' 'hold=' 'panic=' 'confirm-panic' 'delay=' 'snapshot-dir=' 'min-interval=' 'dry-run' 'distress-unreclaimable=' 'distress-full-stall=' 'distress-thrashing=' 'distress-window=' 'settle=' 'metrics-file=' 'metrics-interval=' 'metrics-cgroup-limit=' 'no-metrics' 'json' 'v/verbose' 'log=' 'no-self-protection' 'self-reserve=' 'protect-self' 'version' 'h/help'
        case 'status'
            __oomctl_parse_subcommand 0 'pid=' 'unit=' 'json' 'metrics' 'version' 'h/help'
        case 'snapshot'
            __oomctl_parse_subcommand 1 'pid=' 'json' 'o/output=' 'top=' 'version' 'h/help'
        case 'kill'
            __oomctl_parse_subcommand 1 'pid=' 'under=' 'policy=' 'process' 'prefer=+' 'avoid=+' 'protect=+' 'protect-cgroup=+' 'priority=+' 'signal=' 'grace=' 'timeout=' 'dry-run' 'json' 'version' 'h/help'
        case 'reserve'
            __oomctl_parse_subcommand 2 'pid=' 'clear' 'list' 'under=' 'json' 'q/quiet' 'version' 'h/help'
        case 'simulate'
            __oomctl_parse_subcommand 0 'from=' 'policy=' 'under=' 'parent=' 'limit=' 'reserve=' 'hog-size=' 'hog-rate=' 'hogs=' 'exec=+' 'timeout=' 'on=' 'pressure=' 'hook=+' 'post-kill=+' 'hook-timeout=' 'kill=' 'process' 'prefer=+' 'avoid=+' 'protect=+' 'protect-cgroup=+' 'priority=+' 'signal=' 'grace=' 'hold=' 'panic=' 'confirm-panic' 'delay=' 'snapshot-dir=' 'min-interval=' 'dry-run' 'distress-unreclaimable=' 'distress-full-stall=' 'distress-thrashing=' 'distress-window=' 'settle=' 'json' 'version' 'h/help'
        case 'help'
            __oomctl_parse_subcommand -r 1 'version'
        end
    end
end

function __oomctl_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __oomctl_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __oomctl_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __oomctl_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__oomctl_tokens -p)
    if test -z "$(__oomctl_tokens -t)"
        set -l index (count (__oomctl_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'oomctl' -f
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl" version' -l 'version' -d 'Show the version.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl" -eq 1' -fa 'watch' -d 'Handle OOMs in memory cgroups: be woken by the kernel, run hooks, pick and kill a victim.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl" -eq 1' -fa 'status' -d 'Show what running watches are doing: cgroups, handlings in progress, the last ones, the guardian.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl" -eq 1' -fa 'snapshot' -d 'Capture memory diagnostics: the system, a cgroup tree and its largest processes.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl" -eq 1' -fa 'kill' -d 'Kill a memory cgroup, a process, or the victim a policy picks.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl" -eq 1' -fa 'reserve' -d 'Give a memory cgroup an OOM reserve, show it, list or clear reserves.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl" -eq 1' -fa 'simulate' -d 'Drive a throwaway cgroup into a real OOM and handle it, or replay a policy on a snapshot.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl watch" -ge 1' -fka '(__oomctl_custom_completion ---completion watch -- positional@0 (count (__oomctl_tokens -pc)) (__oomctl_tokens -tC))'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'pid' -d 'Watch the memory cgroup of this process (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" recursive' -l 'recursive' -d 'Also watch every cgroup below, including ones created later; each counts only its own events.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" system' -l 'system' -d 'Pre-empt the kernel\'s global OOM killer: act on system-wide memory pressure (see oomctl-watch(1)).'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" min-available' -l 'min-available' -d 'With --system: act when available memory falls below this, a share or a size (default: 5%); WARN,ACT (10%,5%) also warns.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" min-swap-free' -l 'min-swap-free' -d 'With --system, where swap exists: also require free swap below this (default: 10%; WARN,ACT pairs too).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" cooldown' -l 'cooldown' -d 'With --system: the quiet period after acting (default: 5s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" max-check-interval' -l 'max-check-interval' -d 'With --system: the longest wait between memory checks without pressure, shorter as memory gets short (headroom at 1 GiB/s); 0 for PSI wake-ups only (default: 10s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'under' -d 'With --system: pick victims only under this cgroup (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" on' -l 'on' -d 'Events to handle, comma-separated: oom, oom-kill, high, max, pressure (default: oom on v1; oom-kill,high,max on v2).' -rfka 'oom oom-kill high max pressure'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" pressure' -l 'pressure' -d 'The PSI trigger of --on pressure: some|full STALL WINDOW, the window 500ms to 10s (default: "some 150ms 1s").' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'hook' -d 'A command to run on each event (repeatable; run in order).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'post-kill' -d 'A command to run after a kill, with --kill (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" hook-timeout' -l 'hook-timeout' -d 'How long a hook may run before its process group is killed (default: 10s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" kill' -l 'kill' -d 'Kill the victim a policy picks when hooks did not resolve the OOM, or none (default: none; priority with watch --system).' -rfka 'none largest priority triggering oom-score'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" process' -l 'process' -d 'Pick one process instead of a whole cgroup.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'prefer' -d 'Rank processes (or their cgroups) whose name or command line matches first.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'avoid' -d 'Rank processes (or their cgroups) whose name or command line matches last.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'protect' -d 'Never pick this process (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'protect-cgroup' -d 'Never pick this cgroup or anything below it (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch"' -l 'priority' -d 'The priority of a cgroup without a user.oomctl.priority attribute (repeatable; higher = more important).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" signal' -l 'signal' -d 'Signal to send first: a name (TERM, INT, HUP, …; SIG optional) or a number (default: KILL).' -rfka 'HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" grace' -l 'grace' -d 'With a --signal other than KILL: how long to wait before SIGKILL (default: 5s; watch sends it only if the OOM or distress lasts).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" hold' -l 'hold' -d 'v2: what holds the cgroup while the snapshot and hooks run: none, or freeze (cgroup.freeze, thawed before a kill, at the end, at --delay, and if watch dies) (default: none).' -rfka 'none freeze'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" panic' -l 'panic' -d 'Instead of a kill, take the machine down when hooks did not resolve the OOM, like the kernel\'s panic_on_oom: crash (SysRq c, a kernel panic) or reboot (SysRq b), once the snapshot and file systems are synced. Needs --snapshot-dir, and --confirm-panic unless --dry-run.' -rfka 'crash reboot'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" confirm-panic' -l 'confirm-panic' -d 'Confirm that --panic may crash or reboot this machine.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" delay' -l 'delay' -d 'v1: hand the OOM back to the kernel killer if unresolved after this long (default: 1s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" snapshot-dir' -l 'snapshot-dir' -d 'Write a snapshot of each event into DIR (mode 0600 files).' -rfa '(__oomctl_complete_directories)'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" min-interval' -l 'min-interval' -d 'The least time between two handlings of one cgroup; events between are coalesced (default: 250ms).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" dry-run' -l 'dry-run' -d 'Run hooks and decide, but never kill and never disable the kernel killer.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" distress-unreclaimable' -l 'distress-unreclaimable' -d 'Distress when unreclaimable memory (anon and shmem without swap room, unevictable, kernel memory) reaches this share of memory.high, else memory.max (default: 95%).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" distress-full-stall' -l 'distress-full-stall' -d 'Distress when every task of the cgroup stalls on memory (PSI full) for this share of the window (default: 40%).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" distress-thrashing' -l 'distress-thrashing' -d 'Distress when working-set refaults per second reach this share of the ceiling while tasks stall (default: 25%).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" distress-window' -l 'distress-window' -d 'How far apart the two samples of a verdict are when the first shows no distress (default: 500ms).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" settle' -l 'settle' -d 'v2: a handling is resolved when the verdict has stayed clear this long (default: 500ms).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" metrics-file' -l 'metrics-file' -d 'Write Prometheus metrics to this file (node_exporter\'s textfile collector, e.g. /var/lib/node_exporter/textfile/oomctl.prom), replaced atomically when a figure changes.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'prom\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" metrics-interval' -l 'metrics-interval' -d 'With --metrics-file: rewrite it at most this often (default: 1s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" metrics-cgroup-limit' -l 'metrics-cgroup-limit' -d 'This many cgroups get series of their own (default: 100); the rest are counted as cgroup="(other)".' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" no-metrics' -l 'no-metrics' -d 'Record no metrics: the least memory for the handler; `oomctl status --metrics` then has none.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" json' -l 'json' -d 'Print one JSON object per line instead of readable lines.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" v verbose' -l 'verbose' -s 'v' -d 'Also log the details: v2 wake-ups that found no distress (with the verdict), coalesced events.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" log' -l 'log' -d 'Where to log (default: journal under systemd, else console; --json is --log json).' -rfka 'journal console json'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" no-self-protection' -l 'no-self-protection' -d 'Do not lock the handler\'s memory (mlockall) or set its oom_score_adj.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" self-reserve' -l 'self-reserve' -d 'Pre-fault and lock this much heap for the handler\'s own use during an OOM (e.g. 16M, at most 1G).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" protect-self' -l 'protect-self' -d 'v2: set memory.min of watch\'s own cgroup to what it uses, so the kernel protects the handler.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" version' -l 'version' -d 'Show the version.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl watch" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl status" pid' -l 'pid' -d 'Ask only the watch with this PID.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl status" unit' -l 'unit' -d 'Ask only the watch that runs in this systemd unit (its cgroup\'s name; .service may be left out).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl status" json' -l 'json' -d 'Print a JSON array with one object per watch.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl status" metrics' -l 'metrics' -d 'Print each watch\'s metrics (Prometheus text format) instead of its status.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl status" version' -l 'version' -d 'Show the version.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl snapshot" -eq 1' -fka '(__oomctl_custom_completion ---completion snapshot -- positional@0 (count (__oomctl_tokens -pc)) (__oomctl_tokens -tC))'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl snapshot" pid' -l 'pid' -d 'Use the memory cgroup of process PID instead.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl snapshot" json' -l 'json' -d 'Print the full snapshot as JSON (schema version 1).'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl snapshot" o output' -s 'o' -l 'output' -d 'Write the JSON snapshot to FILE (atomically, mode 0600).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl snapshot" top' -l 'top' -d 'How many processes to list (0 to 10000).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl snapshot" version' -l 'version' -d 'Show the version.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl snapshot" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl kill" -eq 1' -fka '(__oomctl_custom_completion ---completion kill -- positional@0 (count (__oomctl_tokens -pc)) (__oomctl_tokens -tC))'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" pid' -l 'pid' -d 'Kill this one process instead.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" under' -l 'under' -d 'Let the policy pick the victim among the descendants of CGROUP.' -rfka '(__oomctl_custom_completion ---completion kill -- --under (count (__oomctl_tokens -pc)) (__oomctl_tokens -tC))'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" policy' -l 'policy' -d 'With --under: how to pick the victim (default: largest).' -rfka 'largest priority triggering oom-score'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" process' -l 'process' -d 'Pick one process instead of a whole cgroup.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill"' -l 'prefer' -d 'Rank processes (or their cgroups) whose name or command line matches first.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill"' -l 'avoid' -d 'Rank processes (or their cgroups) whose name or command line matches last.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill"' -l 'protect' -d 'Never pick this process (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill"' -l 'protect-cgroup' -d 'Never pick this cgroup or anything below it (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill"' -l 'priority' -d 'The priority of a cgroup without a user.oomctl.priority attribute (repeatable; higher = more important).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" signal' -l 'signal' -d 'Signal to send first: a name (TERM, INT, HUP, …; SIG optional) or a number (default: KILL).' -rfka 'HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" grace' -l 'grace' -d 'With a --signal other than KILL: how long to wait before SIGKILL (default: 5s; watch sends it only if the OOM or distress lasts).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" timeout' -l 'timeout' -d 'How long to wait for the processes to exit after SIGKILL (default: 10s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" dry-run' -l 'dry-run' -d 'Print what would be killed, and why, without killing anything.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" json' -l 'json' -d 'Print the result (and the decision) as JSON.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" version' -l 'version' -d 'Show the version.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl kill" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_positional "oomctl reserve" -eq 1' -fka '(__oomctl_custom_completion ---completion reserve -- positional@0 (count (__oomctl_tokens -pc)) (__oomctl_tokens -tC))'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl reserve" pid' -l 'pid' -d 'Use the memory cgroup of process PID instead.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl reserve" clear' -l 'clear' -d 'Remove the reserve and undo what it set (v2: the previous memory.high).'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl reserve" list' -l 'list' -d 'List every reserve (below --under, default the whole hierarchy).'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl reserve" under' -l 'under' -d 'With --list: only below this cgroup.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl reserve" json' -l 'json' -d 'Print the result as JSON.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl reserve" q quiet' -l 'quiet' -s 'q' -d 'Print nothing on success (the exit status says it all).'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl reserve" version' -l 'version' -d 'Show the version.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl reserve" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" from' -l 'from' -d 'Replay a policy on this snapshot file (\'-\' for standard input).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" policy' -l 'policy' -d 'With --from: how to pick the victim (default: largest).' -rfka 'largest priority triggering oom-score'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" under' -l 'under' -d 'With --from: let the policy pick among the descendants of CGROUP (default: the snapshot\'s root).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" parent' -l 'parent' -d 'Create the sandbox below this cgroup (default: your own memory cgroup; on v2 the nearest ancestor that delegates the memory controller).' -rfka '(__oomctl_custom_completion ---completion simulate -- --parent (count (__oomctl_tokens -pc)) (__oomctl_tokens -tC))'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" limit' -l 'limit' -d 'The sandbox\'s memory limit, 4M to 4G (default: 64M).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" reserve' -l 'reserve' -d 'Give the sandbox a reserve (as `oomctl reserve`): v1 grants it at the OOM, v2 sets memory.high.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" hog-size' -l 'hog-size' -d 'How much each hog allocates (default: twice the limit).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" hog-rate' -l 'hog-rate' -d 'How fast each hog allocates, per second (default: as fast as it can).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" hogs' -l 'hogs' -d 'How many hogs to start in the sandbox, 1 to 64 (default: 1).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate"' -l 'exec' -d 'Also run this command in the sandbox, started before the hogs and killed at the end (repeatable): the workload to rehearse a hook against.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" timeout' -l 'timeout' -d 'Stop (and clean up) a sandbox run still going after this long (default: 30s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" on' -l 'on' -d 'Events to handle, comma-separated: oom, oom-kill, high, max, pressure (default: oom on v1; oom-kill,high,max on v2).' -rfka 'oom oom-kill high max pressure'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" pressure' -l 'pressure' -d 'The PSI trigger of --on pressure: some|full STALL WINDOW, the window 500ms to 10s (default: "some 150ms 1s").' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate"' -l 'hook' -d 'A command to run on each event (repeatable; run in order).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate"' -l 'post-kill' -d 'A command to run after a kill, with --kill (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" hook-timeout' -l 'hook-timeout' -d 'How long a hook may run before its process group is killed (default: 10s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" kill' -l 'kill' -d 'Kill the victim a policy picks when hooks did not resolve the OOM, or none (default: none; priority with watch --system).' -rfka 'none largest priority triggering oom-score'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" process' -l 'process' -d 'Pick one process instead of a whole cgroup.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate"' -l 'prefer' -d 'Rank processes (or their cgroups) whose name or command line matches first.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate"' -l 'avoid' -d 'Rank processes (or their cgroups) whose name or command line matches last.' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate"' -l 'protect' -d 'Never pick this process (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate"' -l 'protect-cgroup' -d 'Never pick this cgroup or anything below it (repeatable).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate"' -l 'priority' -d 'The priority of a cgroup without a user.oomctl.priority attribute (repeatable; higher = more important).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" signal' -l 'signal' -d 'Signal to send first: a name (TERM, INT, HUP, …; SIG optional) or a number (default: KILL).' -rfka 'HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" grace' -l 'grace' -d 'With a --signal other than KILL: how long to wait before SIGKILL (default: 5s; watch sends it only if the OOM or distress lasts).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" hold' -l 'hold' -d 'v2: what holds the cgroup while the snapshot and hooks run: none, or freeze (cgroup.freeze, thawed before a kill, at the end, at --delay, and if watch dies) (default: none).' -rfka 'none freeze'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" panic' -l 'panic' -d 'Instead of a kill, take the machine down when hooks did not resolve the OOM, like the kernel\'s panic_on_oom: crash (SysRq c, a kernel panic) or reboot (SysRq b), once the snapshot and file systems are synced. Needs --snapshot-dir, and --confirm-panic unless --dry-run.' -rfka 'crash reboot'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" confirm-panic' -l 'confirm-panic' -d 'Confirm that --panic may crash or reboot this machine.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" delay' -l 'delay' -d 'v1: hand the OOM back to the kernel killer if unresolved after this long (default: 1s).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" snapshot-dir' -l 'snapshot-dir' -d 'Write a snapshot of each event into DIR (mode 0600 files).' -rfa '(__oomctl_complete_directories)'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" min-interval' -l 'min-interval' -d 'The least time between two handlings of one cgroup; events between are coalesced (default: 250ms).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" dry-run' -l 'dry-run' -d 'Run hooks and decide, but never kill and never disable the kernel killer.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" distress-unreclaimable' -l 'distress-unreclaimable' -d 'Distress when unreclaimable memory (anon and shmem without swap room, unevictable, kernel memory) reaches this share of memory.high, else memory.max (default: 95%).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" distress-full-stall' -l 'distress-full-stall' -d 'Distress when every task of the cgroup stalls on memory (PSI full) for this share of the window (default: 40%).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" distress-thrashing' -l 'distress-thrashing' -d 'Distress when working-set refaults per second reach this share of the ceiling while tasks stall (default: 25%).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" distress-window' -l 'distress-window' -d 'How far apart the two samples of a verdict are when the first shows no distress (default: 500ms).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" settle' -l 'settle' -d 'v2: a handling is resolved when the verdict has stayed clear this long (default: 500ms).' -rfka ''
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" json' -l 'json' -d 'Print the result (the timeline, or the replayed decision) as JSON.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" version' -l 'version' -d 'Show the version.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl simulate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'oomctl' -n '__oomctl_should_offer_completions_for_flags_or_options "oomctl help" version' -l 'version' -d 'Show the version.'
