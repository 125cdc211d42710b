do_install() {
	cd "$OUT"
	mkdir -p dev proc sys tmp run mnt root etc/init.d
	chmod 1777 tmp
	install -m 755 "$FILES/init" init
	install -m 755 "$FILES/rcS" etc/init.d/rcS
	for file in inittab profile passwd group hostname os-release; do
		install -m 644 "$FILES/$file" "etc/$file"
	done
}
