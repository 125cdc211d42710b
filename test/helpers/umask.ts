/**
 * Loaded into every test process (package.json's test command): fixtures are made under umask 022
 * whatever the runner's is (a hardened host's 027 or 077), as rootstock itself works under 022. A
 * fixture written 0600 by a runner's umask would be refused as a private file, which tests nothing.
 */
process.umask(0o022);
