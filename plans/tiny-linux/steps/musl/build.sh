do_configure() {
	./configure --prefix=/usr --syslibdir=/lib --disable-wrapper
}
