#!/bin/bash

__oomctl_cursor_index_in_current_word() {
    local remaining="${COMP_LINE}"

    local word
    for word in "${COMP_WORDS[@]::COMP_CWORD}"; do
        remaining="${remaining##*([[:space:]])"${word}"*([[:space:]])}"
    done

    local -ir index="$((COMP_POINT - ${#COMP_LINE} + ${#remaining}))"
    if [[ "${index}" -le 0 ]]; then
        printf 0
    else
        printf %s "${index}"
    fi
}

# positional arguments:
#
# - 1: the current (sub)command's count of positional arguments
#
# required variables:
#
# - repeating_flags: the repeating flags that the current (sub)command can accept
# - non_repeating_flags: the non-repeating flags that the current (sub)command can accept
# - repeating_options: the repeating options that the current (sub)command can accept
# - non_repeating_options: the non-repeating options that the current (sub)command can accept
# - positional_number: value ignored
# - unparsed_words: unparsed words from the current command line
#
# modified variables:
#
# - non_repeating_flags: remove flags for this (sub)command that are already on the command line
# - non_repeating_options: remove options for this (sub)command that are already on the command line
# - positional_number: set to the current positional number
# - unparsed_words: remove all flags, options, and option values for this (sub)command
__oomctl_offer_flags_options() {
    local -ir positional_count="${1}"
    positional_number=0

    local was_flag_option_terminator_seen=false
    local is_parsing_option_value=false

    local -ar unparsed_word_indices=("${!unparsed_words[@]}")
    local -i word_index
    for word_index in "${unparsed_word_indices[@]}"; do
        if "${is_parsing_option_value}"; then
            # This word is an option value:
            # Reset marker for next word iff not currently the last word
            [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]] && is_parsing_option_value=false
            unset "unparsed_words[${word_index}]"
            # Do not process this word as a flag or an option
            continue
        fi

        local word="${unparsed_words["${word_index}"]}"
        if ! "${was_flag_option_terminator_seen}"; then
            case "${word}" in
            --)
                unset "unparsed_words[${word_index}]"
                # by itself -- is a flag/option terminator, but if it is the last word, it is the start of a completion
                if [[ "${word_index}" -ne "${unparsed_word_indices[${#unparsed_word_indices[@]} - 1]}" ]]; then
                    was_flag_option_terminator_seen=true
                fi
                continue
                ;;
            -*)
                # ${word} is a flag or an option
                # If ${word} is an option, mark that the next word to be parsed is an option value
                local option
                for option in "${repeating_options[@]}" "${non_repeating_options[@]}"; do
                    [[ "${word}" = "${option}" ]] && is_parsing_option_value=true && break
                done

                # Remove ${word} from ${non_repeating_flags} or ${non_repeating_options} so it isn't offered again
                local not_found=true
                local -i index
                for index in "${!non_repeating_flags[@]}"; do
                    if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                        unset "non_repeating_flags[${index}]"
                        non_repeating_flags=("${non_repeating_flags[@]}")
                        not_found=false
                        break
                    fi
                done
                if "${not_found}"; then
                    for index in "${!non_repeating_flags[@]}"; do
                        if [[ "${non_repeating_flags[${index}]}" = "${word}" ]]; then
                            unset "non_repeating_flags[${index}]"
                            non_repeating_flags=("${non_repeating_flags[@]}")
                            break
                        fi
                    done
                fi
                unset "unparsed_words[${word_index}]"
                continue
                ;;
            esac
        fi

        # ${word} is neither a flag, nor an option, nor an option value
        if [[ "${positional_number}" -lt "${positional_count}" || "${positional_count}" -lt 0 ]]; then
            # ${word} is a positional
            ((positional_number++))
            unset "unparsed_words[${word_index}]"
        else
            if [[ -z "${word}" ]]; then
                # Could be completing a flag, option, or subcommand
                positional_number=-1
            else
                # ${word} is a subcommand or invalid, so stop processing this (sub)command
                positional_number=-2
            fi
            break
        fi
    done

    unparsed_words=("${unparsed_words[@]}")

    if\
        ! "${was_flag_option_terminator_seen}"\
        && ! "${is_parsing_option_value}"\
        && [[ ("${cur}" = -* && "${positional_number}" -ge 0) || "${positional_number}" -eq -1 ]]
    then
        COMPREPLY+=($(compgen -W "${repeating_flags[*]} ${non_repeating_flags[*]} ${repeating_options[*]} ${non_repeating_options[*]}" -- "${cur}"))
    fi
}

__oomctl_add_completions() {
    local completion
    while IFS='' read -r completion; do
        COMPREPLY+=("${completion}")
    done < <(IFS=$'\n' compgen "${@}" -- "${cur}")
}

__oomctl_custom_complete() {
    if [[ -n "${cur}" || -z ${COMP_WORDS[${COMP_CWORD}]} || "${COMP_LINE:${COMP_POINT}:1}" != ' ' ]]; then
        local -ar words=("${COMP_WORDS[@]}")
    else
        local -ar words=("${COMP_WORDS[@]::${COMP_CWORD}}" '' "${COMP_WORDS[@]:${COMP_CWORD}}")
    fi

    "${COMP_WORDS[0]}" "${@}" "${words[@]}"
}

_oomctl() {
    local state
    state="$(shopt -p;shopt -po)"
    trap "${state//$'\n'/;}" RETURN
    shopt -s extglob
    set +o history +o posix

    local -xr SAP_SHELL=bash
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(IFS='.';printf %s "${BASH_VERSINFO[*]}")"
    local -r SAP_SHELL_VERSION

    local -r cur="${2}"
    local -r prev="${3}"

    local -i positional_number
    local -a unparsed_words=("${COMP_WORDS[@]:1:${COMP_CWORD}}")

    local -a repeating_flags=()
    local -a non_repeating_flags=(--version -h --help)
    local -a repeating_options=()
    local -a non_repeating_options=()
    __oomctl_offer_flags_options 0

    # Offer subcommand / subcommand argument completions
    local -r subcommand="${unparsed_words[0]}"
    unset 'unparsed_words[0]'
    unparsed_words=("${unparsed_words[@]}")
    case "${subcommand}" in
    watch|status|snapshot|kill|reserve|simulate|help)
        # Offer subcommand argument completions
        "_oomctl_${subcommand}"
        ;;
    *)
        # Offer subcommand completions
        COMPREPLY+=($(compgen -W 'watch status snapshot kill reserve simulate help' -- "${cur}"))
        ;;
    esac
}

_oomctl_watch() {
    repeating_flags=()
    non_repeating_flags=(--recursive --system --process --confirm-panic --dry-run --no-metrics --json --verbose -v --no-self-protection --protect-self --version -h --help)
    repeating_options=(--pid --under --hook --post-kill --prefer --avoid --protect --protect-cgroup --priority)
    non_repeating_options=(--min-available --min-swap-free --cooldown --max-check-interval --on --pressure --hook-timeout --kill --signal --grace --hold --panic --delay --snapshot-dir --min-interval --distress-unreclaimable --distress-full-stall --distress-thrashing --distress-window --settle --metrics-file --metrics-interval --metrics-cgroup-limit --log --self-reserve)
    __oomctl_offer_flags_options -1

    # Offer option value completions
    case "${prev}" in
    '--pid')
        return
        ;;
    '--min-available')
        return
        ;;
    '--min-swap-free')
        return
        ;;
    '--cooldown')
        return
        ;;
    '--max-check-interval')
        return
        ;;
    '--under')
        return
        ;;
    '--on')
        __oomctl_add_completions -W 'oom'$'\n''oom-kill'$'\n''high'$'\n''max'$'\n''pressure'
        return
        ;;
    '--pressure')
        return
        ;;
    '--hook')
        return
        ;;
    '--post-kill')
        return
        ;;
    '--hook-timeout')
        return
        ;;
    '--kill')
        __oomctl_add_completions -W 'none'$'\n''largest'$'\n''priority'$'\n''triggering'$'\n''oom-score'
        return
        ;;
    '--prefer')
        return
        ;;
    '--avoid')
        return
        ;;
    '--protect')
        return
        ;;
    '--protect-cgroup')
        return
        ;;
    '--priority')
        return
        ;;
    '--signal')
        __oomctl_add_completions -W 'HUP'$'\n''INT'$'\n''QUIT'$'\n''ILL'$'\n''TRAP'$'\n''ABRT'$'\n''BUS'$'\n''FPE'$'\n''KILL'$'\n''USR1'$'\n''SEGV'$'\n''USR2'$'\n''PIPE'$'\n''ALRM'$'\n''TERM'$'\n''STKFLT'$'\n''CHLD'$'\n''CONT'$'\n''STOP'$'\n''TSTP'$'\n''TTIN'$'\n''TTOU'$'\n''URG'$'\n''XCPU'$'\n''XFSZ'$'\n''VTALRM'$'\n''PROF'$'\n''WINCH'$'\n''IO'$'\n''PWR'$'\n''SYS'
        return
        ;;
    '--grace')
        return
        ;;
    '--hold')
        __oomctl_add_completions -W 'none'$'\n''freeze'
        return
        ;;
    '--panic')
        __oomctl_add_completions -W 'crash'$'\n''reboot'
        return
        ;;
    '--delay')
        return
        ;;
    '--snapshot-dir')
        __oomctl_add_completions -d
        return
        ;;
    '--min-interval')
        return
        ;;
    '--distress-unreclaimable')
        return
        ;;
    '--distress-full-stall')
        return
        ;;
    '--distress-thrashing')
        return
        ;;
    '--distress-window')
        return
        ;;
    '--settle')
        return
        ;;
    '--metrics-file')
        __oomctl_add_completions -o plusdirs -fX '!*.@(prom)'
        return
        ;;
    '--metrics-interval')
        return
        ;;
    '--metrics-cgroup-limit')
        return
        ;;
    '--log')
        __oomctl_add_completions -W 'journal'$'\n''console'$'\n''json'
        return
        ;;
    '--self-reserve')
        return
        ;;
    esac

    # Offer positional completions
    case "${positional_number}" in
    *)
        __oomctl_add_completions -W "$(__oomctl_custom_complete ---completion watch -- positional@0 "${COMP_CWORD}" "$(__oomctl_cursor_index_in_current_word)")"
        return
        ;;
    esac
}

_oomctl_status() {
    repeating_flags=()
    non_repeating_flags=(--json --metrics --version -h --help)
    repeating_options=()
    non_repeating_options=(--pid --unit)
    __oomctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--pid')
        return
        ;;
    '--unit')
        return
        ;;
    esac
}

_oomctl_snapshot() {
    repeating_flags=()
    non_repeating_flags=(--json --version -h --help)
    repeating_options=()
    non_repeating_options=(--pid -o --output --top)
    __oomctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--pid')
        return
        ;;
    '-o'|'--output')
        return
        ;;
    '--top')
        return
        ;;
    esac

    # Offer positional completions
    case "${positional_number}" in
    1)
        __oomctl_add_completions -W "$(__oomctl_custom_complete ---completion snapshot -- positional@0 "${COMP_CWORD}" "$(__oomctl_cursor_index_in_current_word)")"
        return
        ;;
    esac
}

_oomctl_kill() {
    repeating_flags=()
    non_repeating_flags=(--process --dry-run --json --version -h --help)
    repeating_options=(--prefer --avoid --protect --protect-cgroup --priority)
    non_repeating_options=(--pid --under --policy --signal --grace --timeout)
    __oomctl_offer_flags_options 1

    # Offer option value completions
    case "${prev}" in
    '--pid')
        return
        ;;
    '--under')
        __oomctl_add_completions -W "$(__oomctl_custom_complete ---completion kill -- --under "${COMP_CWORD}" "$(__oomctl_cursor_index_in_current_word)")"
        return
        ;;
    '--policy')
        __oomctl_add_completions -W 'largest'$'\n''priority'$'\n''triggering'$'\n''oom-score'
        return
        ;;
    '--prefer')
        return
        ;;
    '--avoid')
        return
        ;;
    '--protect')
        return
        ;;
    '--protect-cgroup')
        return
        ;;
    '--priority')
        return
        ;;
    '--signal')
        __oomctl_add_completions -W 'HUP'$'\n''INT'$'\n''QUIT'$'\n''ILL'$'\n''TRAP'$'\n''ABRT'$'\n''BUS'$'\n''FPE'$'\n''KILL'$'\n''USR1'$'\n''SEGV'$'\n''USR2'$'\n''PIPE'$'\n''ALRM'$'\n''TERM'$'\n''STKFLT'$'\n''CHLD'$'\n''CONT'$'\n''STOP'$'\n''TSTP'$'\n''TTIN'$'\n''TTOU'$'\n''URG'$'\n''XCPU'$'\n''XFSZ'$'\n''VTALRM'$'\n''PROF'$'\n''WINCH'$'\n''IO'$'\n''PWR'$'\n''SYS'
        return
        ;;
    '--grace')
        return
        ;;
    '--timeout')
        return
        ;;
    esac

    # Offer positional completions
    case "${positional_number}" in
    1)
        __oomctl_add_completions -W "$(__oomctl_custom_complete ---completion kill -- positional@0 "${COMP_CWORD}" "$(__oomctl_cursor_index_in_current_word)")"
        return
        ;;
    esac
}

_oomctl_reserve() {
    repeating_flags=()
    non_repeating_flags=(--clear --list --json --quiet -q --version -h --help)
    repeating_options=()
    non_repeating_options=(--pid --under)
    __oomctl_offer_flags_options 2

    # Offer option value completions
    case "${prev}" in
    '--pid')
        return
        ;;
    '--under')
        return
        ;;
    esac

    # Offer positional completions
    case "${positional_number}" in
    1)
        __oomctl_add_completions -W "$(__oomctl_custom_complete ---completion reserve -- positional@0 "${COMP_CWORD}" "$(__oomctl_cursor_index_in_current_word)")"
        return
        ;;
    esac
}

_oomctl_simulate() {
    repeating_flags=()
    non_repeating_flags=(--process --confirm-panic --dry-run --json --version -h --help)
    repeating_options=(--exec --hook --post-kill --prefer --avoid --protect --protect-cgroup --priority)
    non_repeating_options=(--from --policy --under --parent --limit --reserve --hog-size --hog-rate --hogs --timeout --on --pressure --hook-timeout --kill --signal --grace --hold --panic --delay --snapshot-dir --min-interval --distress-unreclaimable --distress-full-stall --distress-thrashing --distress-window --settle)
    __oomctl_offer_flags_options 0

    # Offer option value completions
    case "${prev}" in
    '--from')
        return
        ;;
    '--policy')
        __oomctl_add_completions -W 'largest'$'\n''priority'$'\n''triggering'$'\n''oom-score'
        return
        ;;
    '--under')
        return
        ;;
    '--parent')
        __oomctl_add_completions -W "$(__oomctl_custom_complete ---completion simulate -- --parent "${COMP_CWORD}" "$(__oomctl_cursor_index_in_current_word)")"
        return
        ;;
    '--limit')
        return
        ;;
    '--reserve')
        return
        ;;
    '--hog-size')
        return
        ;;
    '--hog-rate')
        return
        ;;
    '--hogs')
        return
        ;;
    '--exec')
        return
        ;;
    '--timeout')
        return
        ;;
    '--on')
        __oomctl_add_completions -W 'oom'$'\n''oom-kill'$'\n''high'$'\n''max'$'\n''pressure'
        return
        ;;
    '--pressure')
        return
        ;;
    '--hook')
        return
        ;;
    '--post-kill')
        return
        ;;
    '--hook-timeout')
        return
        ;;
    '--kill')
        __oomctl_add_completions -W 'none'$'\n''largest'$'\n''priority'$'\n''triggering'$'\n''oom-score'
        return
        ;;
    '--prefer')
        return
        ;;
    '--avoid')
        return
        ;;
    '--protect')
        return
        ;;
    '--protect-cgroup')
        return
        ;;
    '--priority')
        return
        ;;
    '--signal')
        __oomctl_add_completions -W 'HUP'$'\n''INT'$'\n''QUIT'$'\n''ILL'$'\n''TRAP'$'\n''ABRT'$'\n''BUS'$'\n''FPE'$'\n''KILL'$'\n''USR1'$'\n''SEGV'$'\n''USR2'$'\n''PIPE'$'\n''ALRM'$'\n''TERM'$'\n''STKFLT'$'\n''CHLD'$'\n''CONT'$'\n''STOP'$'\n''TSTP'$'\n''TTIN'$'\n''TTOU'$'\n''URG'$'\n''XCPU'$'\n''XFSZ'$'\n''VTALRM'$'\n''PROF'$'\n''WINCH'$'\n''IO'$'\n''PWR'$'\n''SYS'
        return
        ;;
    '--grace')
        return
        ;;
    '--hold')
        __oomctl_add_completions -W 'none'$'\n''freeze'
        return
        ;;
    '--panic')
        __oomctl_add_completions -W 'crash'$'\n''reboot'
        return
        ;;
    '--delay')
        return
        ;;
    '--snapshot-dir')
        __oomctl_add_completions -d
        return
        ;;
    '--min-interval')
        return
        ;;
    '--distress-unreclaimable')
        return
        ;;
    '--distress-full-stall')
        return
        ;;
    '--distress-thrashing')
        return
        ;;
    '--distress-window')
        return
        ;;
    '--settle')
        return
        ;;
    esac
}

_oomctl_help() {
    repeating_flags=()
    non_repeating_flags=(--version)
    repeating_options=()
    non_repeating_options=()
    __oomctl_offer_flags_options -1
}

complete -o filenames -F _oomctl oomctl
