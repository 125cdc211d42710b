do_compile() {
  gcc -static -O2 -DGREETING="\"$GREETING\"" -o greet "$FILES/greet.c"
}

do_install() {
  mkdir -p "$OUT/bin"
  cp greet "$OUT/bin/greet"
}
