# SPDX-License-Identifier: GPL-2.0
# cowdev -A over a cowtab (the driver absent, sysfs faked with
# COWLOOP_SYSFS), cowtab-generator's units, the DKMS version.  Sourced by
# run.sh ($T, $BIN, helpers of lib.sh).

ctl="cowdev: /dev/cow/ctl: No such file or directory (is the cowloop module loaded? try: modprobe cowloop)"
S=$T/tabsys
rm -rf "$S"; mkdir -p "$S/module/cowloop" "$S/block/cow4/cowloop"
truncate -s 1M "$T/tab-rdo.img"
echo "$T/tab-rdo.img" > "$S/block/cow4/cowloop/rdofile"
echo "$T/active.cow" > "$S/block/cow4/cowloop/cowfile"
mkcow "$T/dirty.cow" 64 1024 1 0	# DIRTY, rdofile of 1 MiB
tab=$T/cowtab
cat > "$tab" <<EOT
# rdofile cowfile cowdevice options
$T/tab-rdo.img $T/active.cow 4
$T/tab-rdo.img $T/dirty.cow /dev/cow/1
not-a-cowtab-line
$T/missing.img $T/m.cow 2 repair=yes
$T/tab-rdo.img $T/dirty.cow 3
$T/tab-rdo.img $T/other.cow 4
$T/tab-rdo.img $T/noauto.cow 5 noauto
EOT
A() { env COWLOOP_SYSFS="$S" COWLOOP_COWTAB="$tab" "$BIN/cowdev" -A "$@"; }
# line 2 is active with its files: left alone; line 3: a dirty cowfile,
# refused (repair=no, the default); 4 and 7 bad lines; 5 a missing
# rdofile; 6 a second line for the cowfile of line 3; 8 noauto.
expect cowdev-A-cowtab 1 "cowdev: $tab:4: too few fields: expected rdofile cowfile cowdevice [options]
cowdev: $tab:6: cowfile $T/dirty.cow is already on line 3
cowdev: $tab:7: /dev/cow/4 is already on line 2
cowdev: $tab:3: cowfile $T/dirty.cow is dirty (not closed properly): /dev/cow/1 not activated (cowtab says repair=no; run cowrepair $T/dirty.cow, or set repair=yes)
cowdev: $tab:5: rdofile $T/missing.img: No such file or directory: /dev/cow/2 not activated" A
# named: noauto lines too; bad lines only when a name has no entry
if [ ! -e /dev/cow/ctl ]; then
	expect cowdev-A-named-noauto 1 "$ctl" A /dev/cow/5
	expect cowdev-A-named-active 0 "" A 4
	sed -i "3s/\$/ repair=yes/" "$tab"
	expect cowdev-A-repair 1 "cowdev: $tab:3: cowfile $T/dirty.cow is dirty (not closed properly): repairing it as cowtab says (repair=yes)
$ctl" A 1
	# the cowfile is left for the driver to repair: unchanged here
	result cowdev-A-repair-unchanged [ "$(get "$T/dirty.cow" 6 2)" = 1 ]
fi
expect cowdev-A-no-entry 1 "cowdev: $tab:4: too few fields: expected rdofile cowfile cowdevice [options]
cowdev: $tab:6: cowfile $T/dirty.cow is already on line 3
cowdev: $tab:7: /dev/cow/4 is already on line 2
cowdev: $tab: no entry for /dev/cow/9" A 4 9
"$BIN/cowdev" -A /dev/sda >/dev/null 2>&1; result cowdev-A-bad-device-exit-2 [ $? = 2 ]
# line 2's cowdevice active with other files
echo "$T/tab-rdo.img $T/new.cow 4" > "$tab"
expect cowdev-A-other-files 1 "cowdev: $tab:1: /dev/cow/4 is already active with rdofile $T/tab-rdo.img and cowfile $T/active.cow: not activated for rdofile $T/tab-rdo.img, cowfile $T/new.cow" A
# no cowtab, or only comments: nothing to do
expect cowdev-A-no-cowtab 0 "" env COWLOOP_SYSFS="$S" COWLOOP_COWTAB="$T/none" "$BIN/cowdev" -A
chmod 000 "$tab"
if ! [ -r "$tab" ]; then	# root reads it anyway
	expect cowdev-A-unreadable 1 "cowdev: $tab: Permission denied" A
fi
chmod 644 "$tab"

# ---- cowtab-generator -----------------------------------------------
G=$T/gen
rm -rf "$G"; mkdir -p "$G"
cat > "$tab" <<EOT
/dev/disk/by-label/ro-fs /var/lib/cow/a%b.cow 0 repair=yes
/srv/my\\040images/b.img /var/lib/cow/b.cow 1 noauto
/srv/c.img /var/lib/cow/c.cow 2
/srv/x.img /var/lib/cow/d.cow 1024
/dev/cow/0 /var/lib/cow/e.cow 3
EOT
expect generator-bad-line 0 "cowtab-generator: $tab:4: invalid cowdevice '1024' (expected /dev/cow/N or N, N below 1024): line ignored, its cowdevice is not activated
cowtab-generator: $tab:5: rdofile /dev/cow/0 is a cowdevice (stacking is not supported): line ignored, its cowdevice is not activated" \
	env COWLOOP_COWTAB="$tab" "$BIN/cowtab-generator" "$G" "$G" "$G"
result generator-files [ "$(cd "$G" && find . | sort | tr '\n' ' ')" = ". ./cowdev.target.wants ./cowdev.target.wants/cowdev@0.service ./cowdev.target.wants/cowdev@2.service ./cowdev@0.service.d ./cowdev@0.service.d/cowtab.conf ./cowdev@1.service.d ./cowdev@1.service.d/cowtab.conf ./cowdev@2.service.d ./cowdev@2.service.d/cowtab.conf ./dev-cow-0.device.requires ./dev-cow-0.device.requires/cowdev@0.service ./dev-cow-1.device.requires ./dev-cow-1.device.requires/cowdev@1.service ./dev-cow-2.device.requires ./dev-cow-2.device.requires/cowdev@2.service " ]
result generator-link [ "$(readlink "$G/dev-cow-1.device.requires/cowdev@1.service")" = /lib/systemd/system/cowdev@.service ]
result generator-device-dep [ "$(cat "$G/cowdev@0.service.d/cowtab.conf")" = "# Made by cowtab-generator from $tab line 1
[Unit]
SourcePath=$tab
BindsTo=dev-disk-by\\x2dlabel-ro\\x2dfs.device
After=dev-disk-by\\x2dlabel-ro\\x2dfs.device
RequiresMountsFor=\"/var/lib/cow/a%%b.cow\"" ]
result generator-blank-path [ "$(sed -n 4p "$G/cowdev@1.service.d/cowtab.conf")" = 'RequiresMountsFor="/srv/my images/b.img"' ]
result generator-file-deps [ "$(sed -n 4,5p "$G/cowdev@2.service.d/cowtab.conf")" = 'RequiresMountsFor="/srv/c.img"
RequiresMountsFor="/var/lib/cow/c.cow"' ]
if command -v systemd-escape >/dev/null; then
	result generator-escape-as-systemd [ "$(systemd-escape --path /dev/disk/by-label/ro-fs)" = 'dev-disk-by\x2dlabel-ro\x2dfs' ]
fi
rm -rf "$G"; mkdir "$G"
expect generator-no-cowtab 0 "" env COWLOOP_COWTAB="$T/none" "$BIN/cowtab-generator" "$G"
result generator-no-cowtab-empty [ -z "$(ls "$G")" ]
"$BIN/cowtab-generator" >/dev/null 2>&1; result generator-usage-exit-2 [ $? = 2 ]

# ---- the documentation the manual pages name is installed there (issue
# 23, item 21): make install-doc, as the .deb does; PREFIX moves both
# docrefs dir: the /usr*/share/doc/cowloop-utils/ files the installed
# manual pages name (roff's \- and \% taken out)
docrefs() {
	sed 's/\\%//g; s/\\-/-/g' "$1"/share/man/man*/* |
		grep -o '/usr[a-z/]*/share/doc/cowloop-utils/[A-Za-z0-9._-]*' | sort -u
}
for pre in /usr /usr/local; do
	rm -rf "$T/inst"
	make -s install-man install-doc DESTDIR="$T/inst" PREFIX=$pre >/dev/null 2>&1
	ok=true; refs=$(docrefs "$T/inst$pre")
	[ "$(wc -l <<<"$refs")" -ge 3 ] || ok=false
	for r in $refs; do
		case $r in "$pre/share/doc/cowloop-utils/"*) ;; *) ok=false ;; esac
		[ -e "$T/inst$r" ] || { ok=false; echo "  $r: named, not installed" >&2; }
	done
	for d in README HOWTO.install doc/*.md; do
		cmp -s "$d" "$T/inst$pre/share/doc/cowloop-utils/${d#doc/}" || ok=false
	done
	result doc-installed-where-man-says${pre//\//-} $ok
done
rm -rf "$T/inst"
grep -q 'install-doc' debian/rules && grep -q 'dh_compress.*-X.md' debian/rules
result doc-in-package [ $? = 0 ]

# ---- DKMS and the packages carry the version of cowloop.h -----------
v=$(sed -n 's/^#define COWLOOP_VERSION[^"]*"\(.*\)"/\1/p' src/include/cowloop.h)
result dkms-version [ "$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)" = "$v" ]
if [ -e debian/changelog ]; then
	result deb-version [ "$(sed -n '1s/^cowloop (\([^-)]*\).*/\1/p' debian/changelog)" = "$v" ]
fi
rm -rf "$T/dk"
make -s dkms-source DESTDIR="$T/dk" >/dev/null
result dkms-source-tree [ "$(cd "$T/dk/usr/src/cowloop-$v" && find . -type f | sort | tr '\n' ' ')" = \
	"./Kbuild ./bitmap.c ./checkpoint.c ./compat.h ./cow.h ./cowfmt.c ./dev.c ./dkms.conf ./fill.c ./include/cowfmt.h ./include/cowloop.h ./io.c ./main.c ./meta.c ./status.c " ]
rm -rf "$T/dk"

# ---- cowtab-generator: what a path is, named as systemd names it, and
# duplicates by what a path resolves to (issue 23, item 19) ------------
G=$T/gen; tab=$T/cowtab
# the device unit systemd-escape --path names, for /dev paths not (yet)
# there: a device that udev will make; many names against systemd's own
# (but those systemd refuses, with "..", and those that are files here)
if command -v systemd-escape >/dev/null; then
	names=(.hidden disk/.x a.b x-y 'x\y' 'sp ace' ü a:b a_b /double
	       trailing/ ./dot ..x x.. -lead '~t' '%p' '#h' 'a$b' 'tab	x'
	       "$(printf 'lat\351n')" disk/by-label/.. disk/by-id/..x x/./.y
	       '.' 'mapper/vg-lv' 'disk/by-partlabel/EFI\x20System')
	: > "$tab"; n=0
	for nm in "${names[@]}"; do
		printf '%s %s %d\n' "$(printf '/dev/%s' "$nm" | sed 's/\\/\\134/g; s/ /\\040/g; s/\t/\\011/g')" \
			"/var/lib/cow/e$n.cow" $n >> "$tab"
		n=$((n + 1))
	done
	rm -rf "$G"; mkdir -p "$G"
	COWLOOP_COWTAB="$tab" "$BIN/cowtab-generator" "$G" 2>/dev/null
	ok=true; n=0
	for nm in "${names[@]}"; do
		want=$(systemd-escape --path "/dev/$nm" 2>/dev/null) && want="BindsTo=$want.device"
		[ -e "/dev/$nm" ] && [ ! -b "/dev/$nm" ] && want=	# a file
		got=$(grep '^BindsTo=' "$G/cowdev@$n.service.d/cowtab.conf" 2>/dev/null)
		if [ -n "$want" ] && [ "$got" != "$want" ]; then
			ok=false; echo "  /dev/$nm: got '$got', systemd-escape: '$want'" >&2
		fi
		n=$((n + 1))
	done
	result generator-escape-many-names $ok
fi
# a regular file below /dev (a cowfile in /dev/shm, for RAM) is a file:
# it needs its mounts, not a device unit; so does one that does not exist
# yet there (a new cowfile), and a cowfile is never a device
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	shm=$(mktemp -d /dev/shm/cowhost.XXXXXX)
	truncate -s 1M "$shm/r.img"
	cat > "$tab" <<EOT
$shm/r.img $shm/r.cow 1
$shm/sub/r.img /dev/shm/x.cow 2
/dev/disk/by-label/ro-fs /dev/x.cow 3
EOT
	rm -rf "$G"; mkdir -p "$G"
	COWLOOP_COWTAB="$tab" "$BIN/cowtab-generator" "$G" 2>/dev/null
	result generator-shm-file [ "$(sed 1,3d "$G/cowdev@1.service.d/cowtab.conf")" = "RequiresMountsFor=\"$shm/r.img\"
RequiresMountsFor=\"$shm/r.cow\"" ]
	result generator-shm-missing [ "$(sed 1,3d "$G/cowdev@2.service.d/cowtab.conf")" = "RequiresMountsFor=\"$shm/sub/r.img\"
RequiresMountsFor=\"/dev/shm/x.cow\"" ]
	result generator-dev-cowfile [ "$(sed 1,3d "$G/cowdev@3.service.d/cowtab.conf")" = 'BindsTo=dev-disk-by\x2dlabel-ro\x2dfs.device
After=dev-disk-by\x2dlabel-ro\x2dfs.device
RequiresMountsFor="/dev/x.cow"' ]
	rm -rf "$shm"
fi
# the same cowfile by other names is a duplicate, for cowdev -A too
mkdir -p "$T/real"; ln -sfn "$T/real" "$T/link"
cat > "$tab" <<EOT
/srv/a.img $T/real/a.cow 1
/srv/a.img $T/real//a.cow 2
/srv/a.img $T/real/./a.cow 3
/srv/a.img $T/link/a.cow 4
/srv/a.img $T/real/x/../a.cow 5
/srv/a.img /var/lib/cow/../cow/b.cow 6
/srv/a.img /var/lib/cow/b.cow 7
/srv/b.img /srv//b.img 8
EOT
rm -rf "$G"; mkdir -p "$G"
expect generator-duplicates-resolved 0 "cowtab-generator: $tab:2: cowfile $T/real//a.cow is already on line 1: line ignored, its cowdevice is not activated
cowtab-generator: $tab:3: cowfile $T/real/./a.cow is already on line 1: line ignored, its cowdevice is not activated
cowtab-generator: $tab:4: cowfile $T/link/a.cow is already on line 1: line ignored, its cowdevice is not activated
cowtab-generator: $tab:5: cowfile $T/real/x/../a.cow is already on line 1: line ignored, its cowdevice is not activated
cowtab-generator: $tab:7: cowfile /var/lib/cow/b.cow is already on line 6: line ignored, its cowdevice is not activated
cowtab-generator: $tab:8: rdofile and cowfile are the same file /srv//b.img: line ignored, its cowdevice is not activated" \
	env COWLOOP_COWTAB="$tab" "$BIN/cowtab-generator" "$G"
rm -rf "$G" "$T/real" "$T/link" "$tab"
