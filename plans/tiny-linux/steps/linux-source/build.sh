do_install() {
	# The only unpack of the kernel: kernel-headers and linux build from here, read-only.
	tar -xJf "$SOURCES"/linux_*.orig.tar.xz -C "$OUT" --strip-components=1
}
