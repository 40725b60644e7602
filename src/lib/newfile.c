// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: a new file that appears whole or not at all.
 *
 * It is written under a temporary name in its own directory
 * (".<name>.<tool>-XXXXXX"), made durable, and only then renamed to its
 * name, and the directory made durable: an interruption, an error or a
 * crash never leaves a half-written file under the name, only, after a
 * crash or SIGKILL, the temporary one.  The rename replaces no file
 * that appeared meanwhile unless the tool was told to replace one.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cowlib.h"

/* The directory of @path and its last component, into @dir and @base. */
static int cow_split_path(const char *path, char *dir, char *base)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (strlen(path) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a, path);
	strcpy(b, path);
	strcpy(dir, dirname(a));
	strcpy(base, basename(b));
	return 0;
}

/* Open the directory of @path, where the new file goes; -1 (said). */
static int cow_newfile_dir(const char *label, const char *path, char *base)
{
	char dir[PATH_MAX];
	int fd;

	if (cow_split_path(path, dir, base) < 0) {
		cow_err_errno(label, NULL);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		cow_err_errno(label, "cannot open its directory");
	return fd;
}

/*
 * Could the new file @path be created (a dry run)?  Its directory must
 * be there, and writable.  Returns 0, or -1 (said).
 */
int cow_newfile_check(const char *label, const char *path)
{
	char base[PATH_MAX];
	int fd = cow_newfile_dir(label, path, base), r;

	if (fd < 0)
		return -1;
	r = faccessat(fd, ".", W_OK | X_OK, AT_EACCESS);
	if (r < 0)
		cow_err_errno(label, "cannot create a file in its directory");
	close(fd);
	return r;
}

/*
 * Start the new file @path (@label names it: "output <path>"), with
 * permissions @mode less the umask once it is complete.  @replace: an
 * existing file of that name is replaced by the rename, else never.
 * Returns 0 with nf->fd open for writing, or -1 (said).
 */
int cow_newfile_open(struct cow_newfile *nf, const char *label,
		     const char *path, mode_t mode, bool replace)
{
	char dir[PATH_MAX], base[PATH_MAX];
	mode_t mask = umask(0);

	umask(mask);
	memset(nf, 0, sizeof(*nf));
	nf->path = path;
	nf->label = label;
	nf->mode = mode & ~mask;
	nf->replace = replace;
	nf->fd = -1;
	nf->dirfd = cow_newfile_dir(label, path, base);
	if (nf->dirfd < 0)
		return -1;
	cow_split_path(path, dir, base);
	if ((size_t)snprintf(nf->tmp, sizeof(nf->tmp), "%s/.%s.%s-XXXXXX", dir,
			     base, cow_progname) >= sizeof(nf->tmp)) {
		errno = ENAMETOOLONG;
		cow_err_errno(label, NULL);
		nf->tmp[0] = '\0';
		cow_newfile_close(nf);
		return -1;
	}
	nf->fd = mkostemp(nf->tmp, O_CLOEXEC);
	if (nf->fd < 0) {
		cow_err_errno(label, "cannot create a file in its directory");
		nf->tmp[0] = '\0';
		cow_newfile_close(nf);
		return -1;
	}
	return 0;
}

/* Rename the temporary file to the name, replacing only when told to. */
static int cow_newfile_rename(struct cow_newfile *nf)
{
	struct stat st;

	if (nf->replace)
		return rename(nf->tmp, nf->path);
	if (!renameat2(AT_FDCWD, nf->tmp, AT_FDCWD, nf->path, RENAME_NOREPLACE))
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* a file system without RENAME_NOREPLACE: a link fails on a file */
	if (!link(nf->tmp, nf->path)) {
		unlink(nf->tmp);
		return 0;
	}
	if (errno == EEXIST)
		return -1;
	/* nor hard links (vfat): only the window of a check is left */
	if (!lstat(nf->path, &st) || errno != ENOENT) {
		errno = EEXIST;
		return -1;
	}
	return rename(nf->tmp, nf->path);
}

/*
 * The file is complete: made durable, given its permissions and its
 * name, and the directory made durable; unless the tool was interrupted
 * (cow_interrupted) by then.  Returns 0, or -1 (said, and the temporary
 * file removed).
 */
int cow_newfile_commit(struct cow_newfile *nf)
{
	struct stat st;

	if (cow_interrupted) {
		cow_err(nf->label, "interrupted: not created");
		goto fail;
	}
	if (fstat(nf->fd, &st) < 0) {
		cow_err_errno(nf->label, NULL);
		goto fail;
	}
	/* a file system of fixed permissions (vfat) refuses: theirs stay */
	if ((st.st_mode & 07777) != nf->mode && fchmod(nf->fd, nf->mode) < 0 &&
	    errno != EPERM) {
		cow_err_errno(nf->label, "cannot set its permissions");
		goto fail;
	}
	if (fsync(nf->fd) < 0) {
		cow_err_errno(nf->label, "cannot write");
		goto fail;
	}
	if (cow_newfile_rename(nf) < 0) {
		if (errno == EEXIST)
			cow_err(nf->label, "created meanwhile by someone else: "
				"not replaced");
		else
			cow_err_errno(nf->label, "cannot rename the new file "
				      "to its name");
		goto fail;
	}
	nf->tmp[0] = '\0';	/* it is the file now */
	if (fsync(nf->dirfd) < 0) {
		cow_err_errno(nf->label, "fsync of its directory");
		cow_newfile_close(nf);
		return -1;
	}
	cow_newfile_close(nf);
	return 0;
fail:
	cow_newfile_abort(nf);
	return -1;
}

/* Give up: the temporary file removed, the name never touched. */
void cow_newfile_abort(struct cow_newfile *nf)
{
	if (nf->tmp[0])
		unlink(nf->tmp);
	nf->tmp[0] = '\0';
	cow_newfile_close(nf);
}

void cow_newfile_close(struct cow_newfile *nf)
{
	if (nf->fd >= 0)
		close(nf->fd);
	if (nf->dirfd >= 0)
		close(nf->dirfd);
	nf->fd = nf->dirfd = -1;
}
