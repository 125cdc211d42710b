export PATH="$DEP_MUSL_GCC/bin:$PATH"

do_configure() {
	# Every path is the target's; left alone, configure would add the host's multiarch triplet.
	./configure --prefix=/usr --cc=musl-gcc --extra-ldflags=-static --config-musl \
		--crtprefix=/usr/lib --libpaths=/usr/lib --sysincludepaths='{B}/include:/usr/include'
}

do_compile() {
	# The new tcc builds its own runtime library, libtcc1.a: against musl's headers, not the host's.
	make -j"$JOBS" XCC="$PWD/tcc -nostdinc -I$PWD/include -I$DEP_MUSL/usr/include"
}
