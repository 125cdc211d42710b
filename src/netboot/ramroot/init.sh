#!/bin/busybox sh
# rootstock netboot: PID 1 of the RAM-root initramfs (busybox and this script, nothing else).
#
# rootstock computed everything this script needs and put it on the kernel command line:
#   rootstock.squashfs=URL|PATH  the system's squashfs: an http URL, or a path inside this initramfs
#   rootstock.sha256=HEX         its sha256, checked before it is mounted
#   rootstock.size=BYTES         its size
#   rootstock.init=PATH          the system's init, started by switch_root
# It brings the network up with DHCP, fetches and verifies the squashfs, mounts tmpfs + squashfs +
# overlay as the new root, and switch_roots into the system's init. When a step fails it says which
# on the console and starts a shell; leaving the shell tries again from the start.

# rootstock linked busybox's applets into /bin.
export PATH=/bin
mkdir -p /dev /proc /sys /.rootstock/ram /.rootstock/lower /newroot

mounted() {
  grep -q "^[^ ]* $1 " /proc/mounts
}
[ -e /proc/self ] || mount -t proc proc /proc
# The kernel may have found no /dev/console in the initramfs and started us without standard streams.
mounted /dev || mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mounted /sys || mount -t sysfs sysfs /sys

say() {
  read -r up _ </proc/uptime
  echo "rootstock-netboot [$up]: $*"
}

# Seconds since boot in hundredths (/proc/uptime has two decimals; "1" keeps "05" from reading as octal).
centiseconds() {
  read -r up _ </proc/uptime
  echo $((${up%.*} * 100 + 1${up#*.} - 100))
}

rescue() {
  say "error: $*"
  say "starting a shell; leave it (exit) to try again"
  if command -v cttyhack >/dev/null; then setsid cttyhack sh; else sh; fi
  exec /init
}

# A retry starts clean.
for mountpoint in /newroot /.rootstock/lower /.rootstock/ram; do
  mounted "$mountpoint" && umount "$mountpoint"
done

squashfs=
sha256=
size=
init=/sbin/init
read -r cmdline </proc/cmdline
set -f
for arg in $cmdline; do
  case "$arg" in
  rootstock.squashfs=*) squashfs=${arg#*=} ;;
  rootstock.sha256=*) sha256=${arg#*=} ;;
  rootstock.size=*) size=${arg#*=} ;;
  rootstock.init=*) init=${arg#*=} ;;
  esac
done
set +f
[ -n "$squashfs" ] || rescue "the kernel command line has no rootstock.squashfs="
[ -n "$sha256" ] || rescue "the kernel command line has no rootstock.sha256="

network_up() {
  ip link set lo up
  for path in /sys/class/net/*; do
    dev=${path##*/}
    [ "$dev" = lo ] && continue
    ip link set "$dev" up || continue
    say "asking for an address by DHCP on $dev"
    udhcpc -i "$dev" -s /etc/udhcpc.script -f -q -n -t 6 -T 2 && return 0
    ip link set "$dev" down
  done
  return 1
}

# The root's pieces are mounted where the system will see them (/.rootstock), so that the paths in
# /proc/mounts stay true after the switch.
ram=/.rootstock/ram
lower=/.rootstock/lower
mount -t tmpfs -o mode=0755 rootstock-ram "$ram" || rescue "cannot mount a tmpfs on $ram"
image=$ram/system.squashfs
case "$squashfs" in
http://*)
  network_up || rescue "no DHCP answer on any network interface: $(echo $(ls /sys/class/net))"
  say "fetching $squashfs (${size:-unknown} bytes)"
  started=$(centiseconds)
  attempt=1
  # -c resumes a cut download with a Range request instead of starting over.
  until wget -q -c -O "$image" "$squashfs"; do
    [ "$attempt" -ge 3 ] && rescue "cannot fetch $squashfs (tried $attempt times)"
    attempt=$((attempt + 1))
    say "the download stopped; resuming (attempt $attempt)"
    sleep 1
  done
  took=$(($(centiseconds) - started))
  say "fetched in $((took / 100)).$((took % 100 / 10))$((took % 10)) s"
  ;;
/*)
  say "using the squashfs inside the initramfs: $squashfs"
  mv "$squashfs" "$image" || rescue "the initramfs holds no $squashfs"
  ;;
*) rescue "rootstock.squashfs=$squashfs is neither an http URL nor a path" ;;
esac

actual_size=$(wc -c <"$image")
[ -z "$size" ] || [ "$actual_size" = "$size" ] ||
  rescue "$squashfs has $actual_size bytes, expected $size"
actual=$(sha256sum "$image")
actual=${actual%% *}
[ "$actual" = "$sha256" ] ||
  rescue "sha256 mismatch for $squashfs: expected $sha256, got $actual"
say "verified sha256 $sha256"

# A tmpfs without extended attributes (no CONFIG_TMPFS_XATTR) makes a poor overlay upper: a folder that
# came from the image cannot be removed (EIO). Try it on a scratch overlay and say so.
probe=$ram/probe
mkdir -p "$probe/lower/dir" "$probe/upper" "$probe/work" "$probe/merged"
: >"$probe/lower/dir/file"
if mount -t overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" probe "$probe/merged"; then
  rm -r "$probe/merged/dir" 2>/dev/null ||
    say "warning: this kernel's tmpfs has no extended attributes (CONFIG_TMPFS_XATTR), so folders of the image cannot be removed from /"
  umount "$probe/merged"
fi
rm -rf "$probe"

mkdir -p "$ram/upper" "$ram/work"
mount -t squashfs -o ro,loop "$image" "$lower" || rescue "cannot mount $squashfs (squashfs on a loop device)"
mount -t overlay -o "lowerdir=$lower,upperdir=$ram/upper,workdir=$ram/work" rootstock-root /newroot ||
  rescue "cannot mount the overlay of tmpfs on squashfs"
[ -e "/newroot$init" ] || [ -L "/newroot$init" ] || rescue "the system has no $init"

mkdir -p "/newroot$ram" "/newroot$lower"
mount --move "$ram" "/newroot$ram"
mount --move "$lower" "/newroot$lower"
if [ -f /etc/resolv.conf ] && [ -d /newroot/etc ] && [ ! -L /newroot/etc/resolv.conf ]; then
  cat /etc/resolv.conf >/newroot/etc/resolv.conf
fi
# The system starts as it would from a disk: /dev mounted (as the kernel does), /proc and /sys not.
say "starting the system: switch_root to $init"
if [ -d /newroot/dev ]; then mount --move /dev /newroot/dev; fi
umount /proc /sys
exec switch_root /newroot "$init"
