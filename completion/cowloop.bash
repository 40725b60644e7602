# SPDX-License-Identifier: GPL-2.0
# bash completion for the cowloop tools: cowdev, cowsync, cowlist,
# cowrepair, cowmerge, cowcreate.  Installed by "make install" once per tool name in
# $(PREFIX)/share/bash-completion/completions/, where bash-completion
# loads it on first use; or: . completion/cowloop.bash

# _cowloop_files [dirs]: file names (or only directories) for the word
_cowloop_files() {
	local IFS=$'\n'
	if [ "${1:-}" = dirs ]; then
		COMPREPLY+=($(compgen -d -- "$cur"))
	else
		COMPREPLY+=($(compgen -f -- "$cur"))
	fi
	compopt -o filenames 2>/dev/null
}

# the active cowdevices, as cowdev -l shows them
_cowloop_devices() {
	COMPREPLY+=($(compgen -W "$(cowdev -l -n -O NAME 2>/dev/null)" -- "$cur"))
}

_cowloop() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd=${COMP_WORDS[0]##*/} opts mode="" w
	COMPREPLY=()
	case $cmd in
	cowdev)
		opts="-a --activate -r --read-only -P --partscan --copy-on-read --fill --standalone
		      -d --deactivate
		      -A --activate-cowtab -D --deactivate-all -c --checkpoint -l --list
		      -J --json -n --noheadings -O --output -h --help -V --version"
		if [ "$prev" = -O ] || [ "$prev" = --output ]; then
			local pre=${cur%"${cur##*,}"}
			COMPREPLY=($(compgen -P "$pre" -W "NAME RDOFILE COWFILE STATE SIZE" \
				-- "${cur##*,}"))
			compopt -o nospace 2>/dev/null
			return
		fi
		for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
			case $w in
			-d|--deactivate) mode=d ;;
			-a|--activate) mode=a ;;
			-A|--activate-cowtab) mode=A ;;
			-c|--checkpoint) mode=c ;;
			esac
		done
		;;
	cowsync|cowcreate) opts="-h --help -V --version" ;;
	cowlist) opts="-v --verbose -J --json -m --map -n --noheadings -h --help
		 -V --version" ;;
	cowrepair)
		opts="-f --force -n --dry-run -J --json -p --preen -y --yes
		      --scan-data -C --progress --no-progress -v --verbose
		      -h --help -V --version" ;;
	cowmerge)
		opts="-y --yes -o --output -f --force -n --dry-run -J --json
		      -p --progress --no-progress -h --help -V --version" ;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	case $cmd in
	cowsync) ;;
	cowdev)
		if [ "$mode" = d ]; then
			_cowloop_devices
		elif [ "$mode" = c ]; then	# the cowdevice, then the new file
			if [ "$prev" = -c ] || [ "$prev" = --checkpoint ]; then
				_cowloop_devices
			else
				_cowloop_files
			fi
		elif [ "$mode" = a ]; then
			_cowloop_files
		elif [ "$mode" = A ]; then	# the cowdevices of cowtab
			COMPREPLY+=($(compgen -W "$(sed -n 's|^[ \t]*/[^ \t]*[ \t][ \t]*/[^ \t]*[ \t][ \t]*\(/dev/cow/\)\{0,1\}\([0-9][0-9]*\).*|/dev/cow/\2|p' \
				"${COWLOOP_COWTAB:-/etc/cowtab}" 2>/dev/null)" -- "$cur"))
		fi
		;;
	*) _cowloop_files ;;
	esac
}
complete -F _cowloop cowdev cowsync cowlist cowrepair cowmerge cowcreate
