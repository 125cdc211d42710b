do_install() {
	mkdir -p "$OUT/bin" "$OUT/lib"
	# musl's own specs generator, pointed at where a step sees its dependencies.
	tar -xzOf "$SOURCES/musl-1.2.3.tar.gz" musl-1.2.3/tools/musl-gcc.specs.sh |
		sh -s "$DEP_MUSL/usr/include" "$DEP_MUSL/usr/lib" /lib/ld-musl-x86_64.so.1 >"$OUT/lib/musl-gcc.specs"
	install -m 755 "$FILES/musl-gcc" "$OUT/bin/musl-gcc"
}
