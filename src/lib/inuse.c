// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop library: is a file a tool is about to use in use elsewhere?
 *
 * By another cowloop tool: every tool locks the files it opens, as
 * qemu-img does its images, with open file description (OFD) locks over
 * the whole file: exclusive for a tool that writes the file, shared for
 * one that only reads it.  A conflict is refused at once, never waited
 * for.  The locks are advisory and die with the tool (even on SIGKILL).
 *
 * By an active cowdevice: the driver shows each one's files in
 * /sys/block/cowN/cowloop/ as rdofile_id and cowfile_id, "MAJ:MIN INO
 * MAJ:MIN" (st_dev, st_ino, st_rdev), so a file renamed or linked since
 * is still recognised; drivers without them are compared by path.
 *
 * By a loop device, for a tool that writes the file: its backing file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/loop.h>
#include "cowlib.h"

/*
 * Lock the whole file open as @fd (@label names it) against the other
 * cowloop tools: exclusive when @write (@fd must be open for writing),
 * else shared.  Returns 0, 1 when another tool holds a conflicting lock
 * (said), -1 on error (said).  Where the file system has no locks (some
 * network file systems), the tool goes on unlocked.
 */
int cow_lock(int fd, const char *label, bool write)
{
	int r = cow_lock_try(fd, label, write);

	if (r > 0)
		cow_err(label, COW_LOCKED);
	return r;
}

/* cow_lock(), but a conflict (1) is left for the caller to say. */
int cow_lock_try(int fd, const char *label, bool write)
{
	struct flock fl = {
		.l_type = write ? F_WRLCK : F_RDLCK,
		.l_whence = SEEK_SET,
	};

	if (!fcntl(fd, F_OFD_SETLK, &fl))
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return 1;
	if (errno == ENOLCK || errno == EINVAL || errno == EOPNOTSUPP)
		return 0;
	cow_err_errno(label, "cannot lock");
	return -1;
}

/* "MAJ:MIN INO MAJ:MIN" of rdofile_id or cowfile_id into @id. */
int cow_file_id_parse(const char *s, struct cow_file_id *id)
{
	unsigned long long ino;
	char end;

	memset(id, 0, sizeof(*id));
	if (sscanf(s, "%u:%u %llu %u:%u%c", &id->dev_major, &id->dev_minor,
		   &ino, &id->rdev_major, &id->rdev_minor, &end) != 5)
		return -1;
	id->ino = ino;
	id->known = true;
	return 0;
}

/* Are @a and @b the same file (a block device: the same device)? */
bool cow_same_file(const struct stat *a, const struct stat *b)
{
	if (S_ISBLK(b->st_mode))
		return S_ISBLK(a->st_mode) && a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/*
 * Is @st the file an active cowdevice shows as @id, or at @path when the
 * driver gives no id?  A block device is compared by its device number
 * (any node of it), anything else by device and inode.
 */
bool cow_active_is(const struct cow_file_id *id, const char *path,
		   const struct stat *st)
{
	struct stat s;

	if (!id->known)
		return !stat(path, &s) && cow_same_file(&s, st);
	if (S_ISBLK(st->st_mode))
		return id->rdev_major == major(st->st_rdev) &&
		       id->rdev_minor == minor(st->st_rdev);
	return id->dev_major == major(st->st_dev) &&
	       id->dev_minor == minor(st->st_dev) && id->ino == st->st_ino;
}

/*
 * Which active cowdevice uses the file @st, and as what ("rdofile",
 * "cowfile")?  Returns 1 with *@devno and *@as, 0 when none does, -1
 * (said).
 */
int cow_active_user(const struct stat *st, unsigned int *devno,
		    const char **as)
{
	struct cow_active *v;
	size_t n, i;
	int ret = 0;

	if (cow_active_list(&v, &n) < 0)
		return -1;
	for (i = 0; i < n && !ret; i++) {
		*as = NULL;
		if (cow_active_is(&v[i].cow_id, v[i].cowfile, st))
			*as = "cowfile";
		else if (cow_active_is(&v[i].rdo_id, v[i].rdofile, st))
			*as = "rdofile";
		if (*as) {
			*devno = v[i].devno;
			ret = 1;
		}
	}
	free(v);
	return ret;
}

/*
 * Refuse the file @st (@label: "cowfile <path>") when an active
 * cowdevice uses it as its rdofile or cowfile.  Returns 0 when not in
 * use, -1 (said).
 */
int cow_refuse_active(const char *label, const struct stat *st)
{
	unsigned int devno;
	const char *as;
	int r = cow_active_user(st, &devno, &as);

	if (r > 0)
		cow_err(label, "in use by /dev/cow/%u (as its %s): deactivate it "
			"first (cowdev -d /dev/cow/%u)", devno, as, devno);
	return r ? -1 : 0;
}

/* A loop device's lo_device: the kernel's new_encode_dev() of st_dev. */
static uint64_t cow_encode_dev(dev_t dev)
{
	uint64_t ma = major(dev), mi = minor(dev);

	return (mi & 0xff) | (ma << 8) | ((mi & ~0xffULL) << 12);
}

/*
 * Is @st the backing file of loop device @name, whose sysfs shows
 * @backing as its path?  By that path first; when it no longer leads to
 * the file (renamed, deleted), by the device and inode the loop device
 * gives (LOOP_GET_STATUS64).
 */
static bool cow_loop_uses(const char *name, const char *backing,
			  const struct stat *st)
{
	struct loop_info64 li;
	char dev[16 + sizeof(((struct dirent *)0)->d_name)];
	struct stat s;
	int fd, r;

	if (!stat(backing, &s) && cow_same_file(&s, st))
		return true;
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	fd = open(dev, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	r = ioctl(fd, LOOP_GET_STATUS64, &li);
	close(fd);
	return !r && !S_ISBLK(st->st_mode) && li.lo_inode == st->st_ino &&
	       li.lo_device == cow_encode_dev(st->st_dev);
}

/*
 * Refuse the file open as @fd (@label names it) to a tool that writes it
 * when a loop device uses it as its backing file, mounted or not: the
 * writes would go behind the loop device's back (its page cache, a file
 * system on it).  The bound loop devices are those with
 * /sys/block/loopN/loop/backing_file.  Returns 0, or -1 (said).
 */
int cow_refuse_loop(const char *label, int fd)
{
	char path[PATH_MAX], backing[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int ret = 0;
	DIR *dir;

	if (fstat(fd, &st) < 0) {
		cow_err_errno(label, NULL);
		return -1;
	}

	snprintf(path, sizeof(path), "%s/block", cow_sysfs());
	dir = opendir(path);
	if (!dir)
		return 0;
	while (!ret && (de = readdir(dir))) {
		if (strncmp(de->d_name, "loop", 4) ||
		    strspn(de->d_name + 4, "0123456789") !=
		    strlen(de->d_name + 4) || !de->d_name[4])
			continue;
		snprintf(path, sizeof(path), "%s/block/%s/loop/backing_file",
			 cow_sysfs(), de->d_name);
		if (cow_read_line(path, backing, sizeof(backing)) < 0 ||
		    !cow_loop_uses(de->d_name, backing, &st))
			continue;
		cow_err(label, "in use by /dev/%s (as its backing file): detach "
			"it first (losetup -d /dev/%s)", de->d_name, de->d_name);
		ret = -1;
	}
	closedir(dir);
	return ret;
}

/*
 * Claim the file open as @fd (@label names it) for a tool that writes it
 * (@write) or only reads it: locked against the other tools, and not a
 * file of an active cowdevice.  Lock first: a cowdevice activated after
 * the check is activated by cowdev, which takes the lock too.  (A tool
 * that writes checks the loop devices too, once it claimed all its
 * files: cow_refuse_loop().)  Returns 0, or -1 (said).
 */
int cow_claim(const char *label, int fd, bool write)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		cow_err_errno(label, NULL);
		return -1;
	}
	if (cow_lock(fd, label, write))
		return -1;
	return cow_refuse_active(label, &st);
}

/*
 * Claim the file open as @fd (@label: "rdofile <path>") for a tool that
 * only reads it as the image below a cowfile (cowmerge -o, cowcreate):
 * locked shared against the tools that write it, and refused when an
 * active cowdevice uses it as its cowfile, which the driver writes.  As
 * an active cowdevice's rdofile it is never written: read, as several
 * sessions over one image do.  Returns 0, or -1 (said).
 */
int cow_claim_source(const char *label, int fd)
{
	unsigned int devno;
	const char *as;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0) {
		cow_err_errno(label, NULL);
		return -1;
	}
	if (cow_lock(fd, label, false))
		return -1;
	r = cow_active_user(&st, &devno, &as);
	if (r > 0 && !strcmp(as, "cowfile"))
		cow_err(label, "in use by /dev/cow/%u (as its cowfile, which "
			"changes): deactivate it first (cowdev -d /dev/cow/%u)",
			devno, devno);
	return r < 0 || (r > 0 && !strcmp(as, "cowfile")) ? -1 : 0;
}

/*
 * Is @st a cowdevice or one of its partitions (/dev/cow/N, /dev/cowNpM),
 * which cannot be an rdofile (COW_E_STACK)?  Known by what sysfs names
 * its device number: /sys/dev/block/MAJ:MIN leads to .../cowN or
 * .../cowNpM.  Returns 1 with the name in @name, else 0.
 */
int cow_is_cowdevice(const struct stat *st, char *name, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *b, *p;
	ssize_t n;

	if (!S_ISBLK(st->st_mode))
		return 0;
	snprintf(path, sizeof(path), "%s/dev/block/%u:%u", cow_sysfs(),
		 major(st->st_rdev), minor(st->st_rdev));
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	b = strrchr(link, '/');
	b = b ? b + 1 : link;
	if (strncmp(b, "cow", 3) || !b[3])
		return 0;
	p = b + 3 + strspn(b + 3, "0123456789");
	if (p == b + 3)
		return 0;
	if (*p == 'p' && p[1] && !p[1 + strspn(p + 1, "0123456789")])
		p = "";
	if (*p)
		return 0;
	snprintf(name, len, "%s", b);
	return 1;
}
