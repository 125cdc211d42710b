do_install() {
  mkdir -p "$OUT/etc" "$OUT/proc" "$OUT/sys" "$OUT/dev" "$OUT/tmp" "$OUT/root"
  cp "$FILES/os-release" "$OUT/etc/os-release"
}
