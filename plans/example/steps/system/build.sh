do_install() {
  mkdir -p "$OUT/share/example"
  /serpent/usr/bin/hello > "$OUT/share/example/hello.txt"
  greet > "$OUT/share/example/greeting.txt"
}
