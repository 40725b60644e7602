#!/bin/sh
# cowdev -A and -D with the driver, over a cowtab (COWLOOP_COWTAB): the
# lines activated in file order; a dirty cowfile repaired in the driver
# with repair=yes, its flushed data there, another refused with the
# default repair=no; a bad line reported, the others activated all the
# same; -A again changes nothing; -D reports a cowdevice held open and
# deactivates the others, then all, every cowfile clean.  (make check-system does the
# same at boot, with systemd, on a Debian system.)
# timeout: 300
. /cowloop/t/lib.sh
. /cowloop/t/cowlib.sh

cow_load
img=$SCRATCH/tab.img tab=$SCRATCH/cowtab
pattern "$img" 4096
rm -f "$SCRATCH"/t-*.cow
# two copies of a cowfile in use: DIRTY on disk, data flushed
dev=$(activate "$img" "$SCRATCH/t-src.cow")
dd if=/dev/urandom of="$dev" bs=4k count=16 seek=3 conv=fsync 2>/dev/null
want=$(md5 "$dev")
cp "$SCRATCH/t-src.cow" "$SCRATCH/t-dirty-yes.cow"
cp "$SCRATCH/t-src.cow" "$SCRATCH/t-dirty-no.cow"
deactivate "$dev"
cowlist "$SCRATCH/t-dirty-no.cow" | grep -q 'state cowfile: *dirty' ||
	fail "the copy of a cowfile in use is not dirty"

cat >"$tab" <<EOT
# test cowtab
$img $SCRATCH/t-a.cow 0
$img $SCRATCH/t-b.cow /dev/cow/1
$img $SCRATCH/t-dirty-yes.cow 2 repair=yes
$img $SCRATCH/t-dirty-no.cow 3
garbage
EOT
export COWLOOP_COWTAB=$tab
rc=0
out=$(cowdev -A 2>"$SCRATCH/err") || rc=$?
check_eq "cowdev -A exit" 1 "$rc"
check_eq "cowdev -A activated" "/dev/cow/0 /dev/cow/1 /dev/cow/2" "$(echo $out)"
check_eq "cowdev -A messages" "cowdev: $tab:6: too few fields: expected rdofile cowfile cowdevice [options]
cowdev: $tab:4: cowfile $SCRATCH/t-dirty-yes.cow is dirty (not closed properly): repairing it as cowtab says (repair=yes)
cowdev: $tab:5: cowfile $SCRATCH/t-dirty-no.cow is dirty (not closed properly): /dev/cow/3 not activated (cowtab says repair=no; run cowrepair $SCRATCH/t-dirty-no.cow, or set repair=yes)" \
	"$(cat "$SCRATCH/err")"
wait_for /dev/cow/2
check_eq "repaired cowdevice shows the flushed data" "$want" "$(md5 /dev/cow/2)"
check_eq "cowdevice 1 shows the rdofile" "$(md5 "$img")" "$(md5 /dev/cow/1)"
check_eq "active" "0 1 2" "$(echo $(cowdev -l -n -O NAME | sed 's|/dev/cow/||'))"
out=$(cowdev -A 2>/dev/null) || true
check_eq "cowdev -A again activates nothing" "" "$out"
check_eq "active after -A again" "0 1 2" "$(echo $(cowdev -l -n -O NAME | sed 's|/dev/cow/||'))"
if cowdev -A 3 >/dev/null 2>&1; then
	fail "cowdev -A 3 activated the dirty cowfile"
fi

# -D: one held open is reported, the others go
exec 3</dev/cow/1
refused "/dev/cow/1: cannot deactivate: device is in use" cowdev -D
check_eq "left active by -D" "/dev/cow/1" "$(cowdev -l -n -O NAME | tr -d ' ')"
exec 3<&-
cowdev -D || fail "cowdev -D failed"
check_eq "none active after -D" "" "$(cowdev -l -n)"
for c in t-a t-b t-dirty-yes; do
	cowlist "$SCRATCH/$c.cow" | grep -q 'state cowfile: *clean' ||
		fail "$c.cow not clean after cowdev -D"
done
cowlist "$SCRATCH/t-dirty-no.cow" | grep -q 'state cowfile: *dirty' ||
	fail "the refused cowfile was changed"
cow_unload
