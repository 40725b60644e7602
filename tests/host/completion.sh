# SPDX-License-Identifier: GPL-2.0
# Bash completion (completion/cowloop.bash), sourced by run.sh: options
# of every tool, -O columns, file names; "make install" installs it.

# comp line...: what completing the last word of the line offers
comp() {
	bash -c '. completion/cowloop.bash; PATH=$1:$PATH; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_cowloop; printf "%s\n" "${COMPREPLY[@]}" | sort' - "$BIN" "$@"
}
ok=true
for t in cowdev cowsync cowlist cowrepair cowmerge cowcreate; do
	# every option --help lists is offered
	for o in $("$BIN/$t" --help | grep -oE -- '(^| )--?[a-zA-Z][-a-z]*' | tr -d ' '); do
		comp "$t" "$o" | grep -qx -- "$o" || { ok=false; echo "  $t: $o not completed" >&2; }
	done
done
result completion-options $ok
result completion-scan-data [ "$(comp cowrepair --sc)" = --scan-data ]
result completion-columns [ "$(comp cowdev -l -O NAME,RDO)" = NAME,RDOFILE ]
mkdir -p "$T/cdir"; : > "$T/cdir/some.cow"
result completion-files [ "$(comp cowlist "$T/cdir/so")" = "$T/cdir/some.cow" ]
rm -rf "$T/cdir" "$T/inst"
make -s install-completion DESTDIR="$T/inst" PREFIX=/usr >/dev/null
result completion-installed [ "$(ls "$T/inst/usr/share/bash-completion/completions" | tr '\n' ' ')" = \
	"cowcreate cowdev cowlist cowmerge cowrepair cowsync " ]
rm -rf "$T/inst"
printf '# x\n/r /a.cow 3\n/r /b.cow /dev/cow/12 noauto\n' > "$T/comp-cowtab"
result completion-cowtab-devices [ "$(COWLOOP_COWTAB="$T/comp-cowtab" comp cowdev -A /dev/cow/ | tr '\n' ' ')" = "/dev/cow/12 /dev/cow/3 " ]
rm -f "$T/comp-cowtab"
