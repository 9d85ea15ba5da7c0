# make install / make uninstall: a thin front for scripts/install (PREFIX, DESTDIR, SYSCONFDIR).
#   make install                          # build the release binary, install under /usr/local
#   make install PREFIX=/usr DESTDIR=pkg  # for a package
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=

build:
	swift build -c release --static-swift-stdlib --product oomctl

install:
	PREFIX='$(PREFIX)' SYSCONFDIR='$(SYSCONFDIR)' DESTDIR='$(DESTDIR)' scripts/install

uninstall:
	PREFIX='$(PREFIX)' SYSCONFDIR='$(SYSCONFDIR)' DESTDIR='$(DESTDIR)' scripts/install --uninstall

.PHONY: build install uninstall
