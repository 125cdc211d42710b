# Here / is only musl, Linux's headers, busybox and the tcc that the host's gcc built (stage 1).
# Stage 1 builds tcc (stage 2), stage 2 builds it again (stage 3): the two must be identical.

# build_stage CC RUNTIME DIR: tcc and its runtime files, built into DIR by the compiler CC whose own
# runtime files (libtcc1.a, include/) are in RUNTIME.
build_stage() {
	cc="$1 -B$2"
	mkdir -p "$3/include"
	cp include/*.h tcclib.h "$3/include/"
	for src in libtcc1.c va_list.c alloca86_64.S alloca86_64-bt.S bt-exe.c bt-log.c; do
		$cc -I. -c "lib/$src" -o "$3/${src%.*}.o"
	done
	$1 -ar rcs "$3/libtcc1.a" "$3/libtcc1.o" "$3/va_list.o" "$3/alloca86_64.o" "$3/alloca86_64-bt.o"
	# The settings of the tcc step's configure, for one compile of the whole compiler. Linked against
	# musl's libc.so, not statically: a static tcc cannot dlopen libc.so for `tcc -run`, so it links
	# libc.a into the program instead, a second libc that nothing initialised, and malloc crashes.
	$cc -DTCC_TARGET_X86_64 -DTCC_MUSL -DCONFIG_TCC_SYSINCLUDEPATHS='"{B}/include:/usr/include"' \
		-DCONFIG_TCC_LIBPATHS='"/usr/lib"' -DCONFIG_TCC_CRTPREFIX='"/usr/lib"' -I. -o "$3/tcc" tcc.c
}

do_configure() {
	# Only for config.h: where tcc finds its runtime files, and its version.
	./configure --cc=tcc --prefix=/usr
}

do_compile() {
	build_stage tcc /usr/lib/tcc stage2
	build_stage stage2/tcc stage2 stage3
	for file in tcc libtcc1.a bt-exe.o bt-log.o; do
		cmp "stage2/$file" "stage3/$file"
	done
	stage3/tcc -Bstage3 -o hello "$FILES/hello.c"
	./hello
}

do_install() {
	install -D -m 755 stage2/tcc "$OUT/usr/bin/tcc"
	mkdir -p "$OUT/usr/lib/tcc/include"
	install -m 644 stage2/libtcc1.a stage2/bt-exe.o stage2/bt-log.o "$OUT/usr/lib/tcc/"
	install -m 644 stage2/include/*.h "$OUT/usr/lib/tcc/include/"
}
