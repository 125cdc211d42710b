do_install() {
  mkdir -p "$OUT/bin"
  cp "$(command -v busybox)" "$OUT/bin/busybox"
  for applet in $("$OUT/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$OUT/bin/$applet"
  done
}
