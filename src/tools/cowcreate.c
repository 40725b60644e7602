// SPDX-License-Identifier: GPL-2.0
/*
 * cowcreate: create the empty cowfile of an rdofile without the driver,
 * as qemu-img create -b creates an overlay.
 *
 * Bit for bit what the driver leaves when it activates a new cowfile
 * and is deactivated cleanly before any write: the header of
 * cow_hdr_init() (geometry, the rdofile's fingerprint and exact size,
 * ORDERED), clean, no block in use, and the file 1024 + mapsize bytes
 * long, all but the header a hole (see cow_create_header() and
 * cow_commit() in src/module/dev.c).  The file is written under a
 * temporary name and renamed once complete (cow_newfile_*()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowcreate",
	.synopsis = "rdofile cowfile",
	.summary = "Create the empty cowfile of an rdofile without the cowloop\n"
		   "driver, bit for bit the one the driver creates.",
	.options = "",
};

static const struct option longopts[] = {
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

/*
 * The rdofile: read-only, locked shared; not an active cowdevice's
 * cowfile (it changes), nor a cowdevice (no stacking), nor larger than
 * a cowfile can describe, as the driver refuses them.
 */
static int open_rdofile(struct rdofile *r, const char *path)
{
	char name[64];
	struct stat st;

	if (rdo_open(r, path, false) < 0)
		return -1;
	if (cow_claim_source(r->label, r->fd) < 0)
		return -1;
	if (fstat(r->fd, &st) < 0) {
		cow_err_errno(r->label, NULL);
		return -1;
	}
	if (cow_is_cowdevice(&st, name, sizeof(name))) {
		cow_err_reason(r->label, COW_E_STACK, "/dev/%s", name);
		return -1;
	}
	if (r->rdoblocks > COW_MAX_RDOBLOCKS) {
		cow_err(r->label, "%s", cow_strerror(COW_E_RDOBIG));
		return -1;
	}
	return 0;
}

/*
 * Where the cowfile goes: a new name, or an empty regular file (what
 * cowdev -a leaves when the driver refused it; the driver takes one as
 * new too), then held locked exclusively through *@fd until it is
 * replaced.  Returns 0, or -1 (said).
 */
static int check_cowfile(const char *label, const char *path,
			 const struct rdofile *r, int *fd)
{
	struct stat ls, rs;

	*fd = -1;
	if (lstat(path, &ls) < 0) {
		if (errno == ENOENT)
			return 0;
		cow_err_errno(label, NULL);
		return -1;
	}
	if (fstat(r->fd, &rs) < 0) {
		cow_err_errno(r->label, NULL);
		return -1;
	}
	if (cow_same_file(&ls, &rs)) {
		cow_err(r->label, "%s", cow_strerror(COW_E_SAMEFILE));
		return -1;
	}
	if (S_ISLNK(ls.st_mode)) {
		cow_err(label, "a symbolic link: not created (name the file "
			"itself)");
		return -1;
	}
	*fd = cow_open_file(label, path, O_RDWR, COW_E_COWTYPE, &ls);
	if (*fd < 0)
		return -1;
	if (ls.st_size) {
		cow_err(label, "exists (%llu bytes): not replaced (remove it "
			"first)", (unsigned long long)ls.st_size);
		return -1;
	}
	return cow_claim(label, *fd, true);
}

/*
 * Can the cowfile's file system hold the cowfile at its largest, as the
 * driver asks of it (COW_E_FSLIMIT)?  A position beyond the largest
 * file is refused by lseek() (vfs_setpos(): EINVAL), which changes
 * nothing.
 */
static int check_fslimit(const char *label, int fd, uint64_t rdoblocks)
{
	uint64_t need = cow_cowsize(rdoblocks);
	char h[16];

	if (lseek(fd, (off_t)need, SEEK_SET) >= 0 || errno != EINVAL)
		return 0;
	cow_human(need, h, sizeof(h));
	cow_err_reason(label, COW_E_FSLIMIT, "this rdofile's cowfile grows to "
		       "%s, %llu bytes", h, (unsigned long long)need);
	return -1;
}

/* The header of a new cowfile, clean, and the file's size. */
static int write_cowfile(const struct cow_newfile *nf, const struct cow_hdr *h)
{
	static uint8_t blk[COW_HDRSIZE] __attribute__((aligned(8)));

	cow_hdr_encode(blk, h);
	if (ftruncate(nf->fd, (off_t)(COW_HDRSIZE + h->mapsize)) < 0 ||
	    cow_pwrite_full(nf->fd, blk, sizeof(blk), 0) < 0) {
		cow_err_errno(nf->label, "cannot write");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char label[32 + COW_PATH_MAX];
	struct cow_newfile nf;
	struct rdofile r;
	struct cow_hdr h;
	uint32_t fp;
	int c, fd = -1, ret = COW_EXIT_FAIL;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, COW_SHORTOPTS_STD, longopts,
				NULL)) != -1)
		cow_std_option(c);
	if (argc - optind != 2)
		cow_usage_error(argc - optind < 2 ? "missing rdofile or cowfile"
						  : "too many arguments");
	snprintf(label, sizeof(label), "cowfile %s", argv[optind + 1]);
	if (open_rdofile(&r, argv[optind]) < 0 ||
	    check_cowfile(label, argv[optind + 1], &r, &fd) < 0)
		goto out;
	/* the fingerprint (a blank disk is read far) before any file */
	if (rdo_fingerprint(&r, &fp) < 0)
		goto out;
	cow_hdr_init(&h, r.size, fp);
	if (cow_newfile_open(&nf, label, argv[optind + 1], 0600, fd >= 0) < 0)
		goto out;
	cow_catch_interrupts();
	if (check_fslimit(label, nf.fd, r.rdoblocks) < 0 ||
	    write_cowfile(&nf, &h) < 0) {
		cow_newfile_abort(&nf);
		goto out;
	}
	if (cow_newfile_commit(&nf) < 0)	/* also when interrupted */
		goto out;
	printf("cowfile %s: created for rdofile %s (%llu %s of 1024 bytes)\n",
	       argv[optind + 1], r.path, (unsigned long long)h.rdoblocks,
	       cow_plural(h.rdoblocks, "block", "blocks"));
	ret = COW_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	rdo_close(&r);
	return ret;
}
