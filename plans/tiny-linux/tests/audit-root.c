/*
 * Lists what a test needs to judge a root file system; the guest compiles it with its own tcc and runs
 * it. It reads every regular file of the root's own file system (other mounts are skipped) and prints,
 * one tab-separated line each: every ELF file with its class, machine, type, program interpreter and
 * needed libraries; every file that contains one of the strings given as arguments; every file it
 * could not read; and last, how many files and bytes it read:
 *
 *   elf    PATH  CLASS  MACHINE  TYPE  INTERP  NEEDED,NEEDED,...   ("-" for none)
 *   match  PATH  STRING
 *   error  PATH  WHY
 *   read   FILES  BYTES
 *
 * The test, not this program, decides what is allowed.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char **needles;
static int needle_count;

static void print_name(const char *path) {
	/* Paths are printed raw; a tab or newline in one would break the line format. */
	for (const char *p = path; *p; p++) putchar(*p == '\t' || *p == '\n' ? '?' : *p);
}

static int within(size_t size, unsigned long long offset, unsigned long long length) {
	return offset <= size && length <= size - offset;
}

/* The file offset of a virtual address, through the PT_LOAD segments. */
static long long file_offset(const unsigned char *data, const Elf64_Ehdr *eh, unsigned long long address) {
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(data + eh->e_phoff + (size_t)i * eh->e_phentsize);
		if (ph->p_type == PT_LOAD && address >= ph->p_vaddr && address - ph->p_vaddr < ph->p_filesz)
			return (long long)(ph->p_offset + (address - ph->p_vaddr));
	}
	return -1;
}

static void describe_elf(const char *path, const unsigned char *data, size_t size) {
	const char *interp = "-";
	char needed[1024] = "";
	if (size < EI_NIDENT || data[EI_CLASS] != ELFCLASS64 || size < sizeof(Elf64_Ehdr)) {
		printf("elf\t");
		print_name(path);
		printf("\t%d\t-\t-\t-\t-\n", size > EI_CLASS ? data[EI_CLASS] * 32 : 0);
		return;
	}
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)data;
	int headers_ok = eh->e_phnum == 0 ||
	                 (eh->e_phentsize == sizeof(Elf64_Phdr) &&
	                  within(size, eh->e_phoff, (unsigned long long)eh->e_phnum * sizeof(Elf64_Phdr)));
	for (int i = 0; headers_ok && i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(data + eh->e_phoff + (size_t)i * sizeof(Elf64_Phdr));
		if (ph->p_type == PT_INTERP && within(size, ph->p_offset, ph->p_filesz) && ph->p_filesz > 0 &&
		    data[ph->p_offset + ph->p_filesz - 1] == '\0')
			interp = (const char *)data + ph->p_offset;
		if (ph->p_type != PT_DYNAMIC || !within(size, ph->p_offset, ph->p_filesz)) continue;
		const Elf64_Dyn *dyn = (const Elf64_Dyn *)(data + ph->p_offset);
		size_t count = ph->p_filesz / sizeof(Elf64_Dyn);
		long long strtab = -1;
		for (size_t j = 0; j < count && dyn[j].d_tag != DT_NULL; j++)
			if (dyn[j].d_tag == DT_STRTAB) strtab = file_offset(data, eh, dyn[j].d_un.d_ptr);
		for (size_t j = 0; j < count && dyn[j].d_tag != DT_NULL; j++) {
			if (dyn[j].d_tag != DT_NEEDED) continue;
			const char *name = "?";
			if (strtab >= 0 && within(size, (unsigned long long)strtab + dyn[j].d_un.d_val, 1) &&
			    memchr(data + strtab + dyn[j].d_un.d_val, '\0', size - strtab - dyn[j].d_un.d_val))
				name = (const char *)data + strtab + dyn[j].d_un.d_val;
			if (strlen(needed) + strlen(name) + 2 < sizeof needed) {
				if (needed[0]) strcat(needed, ",");
				strcat(needed, name);
			}
		}
	}
	printf("elf\t");
	print_name(path);
	printf("\t64\t%d\t%d\t%s\t%s\n", eh->e_machine, eh->e_type, headers_ok ? interp : "?",
	       needed[0] ? needed : "-");
}

static dev_t root_device;
static unsigned long files_read;
static unsigned long long bytes_read;

static void audit_file(const char *path, const struct stat *st) {
	FILE *file = fopen(path, "rb");
	unsigned char *data = malloc(st->st_size > 0 ? (size_t)st->st_size : 1);
	size_t size = 0;
	if (!file || !data ||
	    (st->st_size > 0 && (size = fread(data, 1, (size_t)st->st_size, file)) != (size_t)st->st_size)) {
		printf("error\t");
		print_name(path);
		printf("\t%s\n", strerror(errno));
	} else {
		files_read++;
		bytes_read += size;
		if (size >= 4 && memcmp(data, ELFMAG, SELFMAG) == 0) describe_elf(path, data, size);
		for (int i = 0; i < needle_count; i++) {
			if (memmem(data, size, needles[i], strlen(needles[i]))) {
				printf("match\t");
				print_name(path);
				printf("\t%s\n", needles[i]);
			}
		}
	}
	if (file) fclose(file);
	free(data);
}

/*
 * Walks a folder without crossing into other mounts. A folder's device tells its mount; a file's may
 * not (on an overlay, files report the device of the layer they come from), and nftw's FTW_MOUNT
 * judges files too, so the walk is done here.
 */
static void walk(const char *folder) {
	DIR *dir = opendir(folder);
	if (!dir) {
		printf("error\t");
		print_name(folder);
		printf("\t%s\n", strerror(errno));
		return;
	}
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", strcmp(folder, "/") ? folder : "", entry->d_name);
		struct stat st;
		if (lstat(path, &st) != 0) continue;
		if (S_ISDIR(st.st_mode) && st.st_dev == root_device) walk(path);
		else if (S_ISREG(st.st_mode)) audit_file(path, &st);
	}
	closedir(dir);
}

int main(int argc, char **argv) {
	struct stat root;
	if (stat("/", &root) != 0) {
		perror("/");
		return 2;
	}
	root_device = root.st_dev;
	needles = argv + 1;
	needle_count = argc - 1;
	walk("/");
	printf("read\t%lu\t%llu\n", files_read, bytes_read);
	return 0;
}
