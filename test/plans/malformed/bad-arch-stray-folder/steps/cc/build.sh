do_install() { :; }
