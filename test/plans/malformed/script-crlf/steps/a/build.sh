do_install() {
  echo hi > "$OUT/hi"
}
