// SPDX-License-Identifier: GPL-2.0
/*
 * cowioctl: hostile callers of /dev/cow/ctl, for the guest tests
 * (tests/guest/t/cow-ioctl.sh).  Built statically by mkinitramfs.sh into
 * /usr/local/sbin of the guest.
 *
 *   cowioctl garbage RDOFILE COWFILE    bad pointers, paths, devnos, cmds,
 *                                       reserved fields, inactive devices
 *   cowioctl race RDOFILE COWFILE DEVNO SECONDS
 *                                       two processes activate/deactivate
 *                                       DEVNO, a third opens it, in a loop
 *   cowioctl unpriv DEVNO               as nobody: EPERM for every ioctl,
 *                                       sysfs attributes still readable
 *   cowioctl churn RDOFILE DIR ROUND N  N activations with new cowfiles
 *                                       in DIR on cowdevices all over
 *                                       0..1020, a write read back on each
 *                                       (cow-churn.sh; see churn())
 *   cowioctl failsweep act|sync|deact RDOFILE COWFILE MAX
 *                                       each fault point of an activation,
 *                                       a sync or a deactivation fails in
 *                                       turn (/proc/self/fail-nth, the
 *                                       debug kernel; see failsweep())
 *
 * Every check prints "ok: ..." or "FAIL: ..."; the exit status is the
 * number of failures (0: all expectations met).
 */
#define _GNU_SOURCE		/* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include "../../../src/include/cowloop.h"	/* builds without -I too */

static int failures;
static const char *ctl = "/dev/cow/ctl";

static void check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", cond ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		failures++;
}

static int ctl_fd(int flags)
{
	int fd = open(ctl, flags | O_CLOEXEC);

	if (fd < 0) {
		perror(ctl);
		exit(100);
	}
	return fd;
}

/* ioctl returning 0 or -errno */
static int ioc(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static const char *ename(int e)
{
	static char b[64];

	if (!e)
		return "success";
	snprintf(b, sizeof(b), "%s (%d)", strerror(-e), -e);
	return b;
}

static struct cow_ioc_dev *req_new(unsigned int devno, const char *rdo,
				   const char *cow)
{
	struct cow_ioc_dev *d = calloc(1, sizeof(*d));

	d->devno = devno;
	if (rdo)
		snprintf(d->rdofile, sizeof(d->rdofile), "%s", rdo);
	if (cow)
		snprintf(d->cowfile, sizeof(d->cowfile), "%s", cow);
	return d;
}

/* Deactivate @devno, retrying while busy for a short while. */
static int deact(int fd, unsigned int devno)
{
	struct cow_ioc_dev d = { .devno = devno };
	int r, i;

	for (i = 0; i < 50; i++) {
		r = ioc(fd, COW_IOC_DEACTIVATE, &d);
		if (r != -EBUSY)
			return r;
		usleep(100000);
	}
	return r;
}

static int is_active(unsigned int devno)
{
	char p[64];

	snprintf(p, sizeof(p), "/sys/block/cow%u", devno);
	return access(p, F_OK) == 0;
}

static void expect(int fd, unsigned long cmd, void *arg, int want,
		   const char *what)
{
	int r = ioc(fd, cmd, arg);

	check(r == want, "%s: %s (want %s)", what, ename(r),
	      ename(want));
}

static void expect_fail(int fd, unsigned long cmd, void *arg,
			const char *what)
{
	int r = ioc(fd, cmd, arg);

	check(r < 0, "%s: refused with %s", what, ename(r));
}

static unsigned int maxcows(void)
{
	FILE *f = fopen("/sys/module/cowloop/parameters/maxcows", "r");
	unsigned int n = 0;

	if (!f || fscanf(f, "%u", &n) != 1)
		n = COW_MAXCOWS_DEFAULT;
	if (f)
		fclose(f);
	return n;
}

static int garbage(const char *rdo, const char *cow)
{
	static const unsigned long cmds[] = {
		COW_IOC_ACTIVATE, COW_IOC_DEACTIVATE, COW_IOC_SYNC,
	};
	static const char *const names[] = { "activate", "deactivate", "sync" };
	long pg = sysconf(_SC_PAGESIZE);
	unsigned int mc = maxcows(), i;
	struct cow_ioc_dev *d;
	char *map, *p;
	int fd = ctl_fd(O_RDWR), r;

	/* --- bad pointers ------------------------------------------------- */
	map = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(map + 2 * pg, 2 * pg);		/* map+2pg.. unmapped */
	for (i = 0; i < 3; i++) {
		char w[128];
		void *bad[] = {
			NULL, (void *)1, map + 2 * pg, map + 3 * pg - 8,
			(void *)0xffffffff81000000UL,
			(void *)0xffff888000000000UL, (void *)-1L,
			/* the struct starts mapped and runs into the hole */
			map + 2 * pg - 100,
		};
		unsigned int j;

		for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			snprintf(w, sizeof(w), "%s with pointer %p", names[i],
				 bad[j]);
			expect(fd, cmds[i], bad[j], -EFAULT, w);
		}
	}

	/* a read-only request: copied in, but devno/reason cannot go back */
	p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	d = (struct cow_ioc_dev *)p;
	d->devno = COW_DEV_ANY;
	strcpy(d->rdofile, "relative");
	strcpy(d->cowfile, cow);
	mprotect(p, 3 * pg, PROT_READ);
	r = ioc(fd, COW_IOC_ACTIVATE, d);
	check(r == -EINVAL || r == -EFAULT,
	      "activate (bad path) from read-only memory: %s", ename(r));
	mprotect(p, 3 * pg, PROT_READ | PROT_WRITE);
	d->devno = 3;
	strcpy(d->rdofile, rdo);
	snprintf(d->cowfile, sizeof(d->cowfile), "%s.ro", cow);
	mprotect(p, 3 * pg, PROT_READ);
	r = ioc(fd, COW_IOC_ACTIVATE, d);
	/*
	 * The caller cannot learn the devno it got: an error is fine, but
	 * then nothing may stay active behind its back.
	 */
	check(r == 0 || !is_active(3),
	      "activate from read-only memory: %s, and cow3 %s", ename(r),
	      is_active(3) ? "left active" : "not active");
	if (is_active(3))
		deact(fd, 3);
	munmap(p, 3 * pg);

	/* --- paths -------------------------------------------------------- */
	d = req_new(COW_DEV_ANY, rdo, cow);
	memset(d->rdofile, 'a', sizeof(d->rdofile));
	d->rdofile[0] = '/';
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "rdofile unterminated (4096 bytes)");
	check(d->reason == COW_E_PATH, "reason %u is COW_E_PATH", d->reason);
	d = req_new(COW_DEV_ANY, rdo, cow);
	memset(d->cowfile, '/', sizeof(d->cowfile));
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "cowfile unterminated (4096 slashes)");
	check(d->reason == COW_E_PATH, "reason %u is COW_E_PATH", d->reason);
	d = req_new(COW_DEV_ANY, "", cow);
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "empty rdofile");
	check(d->reason == COW_E_PATH, "reason %u is COW_E_PATH", d->reason);
	d = req_new(COW_DEV_ANY, rdo, "");
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "empty cowfile");
	d = req_new(COW_DEV_ANY, "rdo.img", cow);
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "relative rdofile");
	d = req_new(COW_DEV_ANY, rdo, "x.cow");
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "relative cowfile");
	check(d->reason == COW_E_PATH, "reason %u is COW_E_PATH", d->reason);
	d = req_new(COW_DEV_ANY, rdo, cow);
	d->cowfile[0] = '/';
	memset(d->cowfile + 1, 'n', 300);	/* component > NAME_MAX */
	d->cowfile[301] = 0;
	expect(fd, COW_IOC_ACTIVATE, d, -ENAMETOOLONG, "cowfile component of 300 bytes");
	d = req_new(COW_DEV_ANY, rdo, cow);
	for (i = 0; i < COW_PATH_MAX - 1; i++)	/* 4095 bytes, terminated */
		d->rdofile[i] = i % 2 ? 'x' : '/';
	d->rdofile[COW_PATH_MAX - 1] = 0;
	expect_fail(fd, COW_IOC_ACTIVATE, d, "rdofile of 4095 bytes (/x/x/...)");
	d = req_new(COW_DEV_ANY, rdo, cow);
	memset(d->cowfile, '/', COW_PATH_MAX - 1);
	expect_fail(fd, COW_IOC_ACTIVATE, d, "cowfile of 4095 slashes (the root dir)");
	d = req_new(COW_DEV_ANY, "/proc/self/mem", cow);
	expect_fail(fd, COW_IOC_ACTIVATE, d, "rdofile /proc/self/mem");
	d = req_new(COW_DEV_ANY, rdo, "/proc/sys/vm/drop_caches");
	expect_fail(fd, COW_IOC_ACTIVATE, d, "cowfile /proc/sys/vm/drop_caches");
	d = req_new(COW_DEV_ANY, rdo, "/sys/kernel/debug/cowloop/x.cow");
	expect_fail(fd, COW_IOC_ACTIVATE, d, "cowfile in debugfs");
	d = req_new(COW_DEV_ANY, rdo, "/dev/cow/ctl");
	expect_fail(fd, COW_IOC_ACTIVATE, d, "cowfile /dev/cow/ctl");
	d = req_new(COW_DEV_ANY, "/dev/cow/ctl", cow);
	expect_fail(fd, COW_IOC_ACTIVATE, d, "rdofile /dev/cow/ctl");
	check(access(cow, F_OK) != 0, "no cowfile created by refused requests");

	/* --- device numbers ----------------------------------------------- */
	{
		unsigned int bad[] = { mc, mc + 1, COW_MAXCOWS_LIMIT,
				       0x7fffffff, 0x80000000, 0xfffffffe };

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char w[96];

			d = req_new(bad[i], rdo, cow);
			snprintf(w, sizeof(w), "activate devno %u (maxcows %u)",
				 bad[i], mc);
			expect(fd, COW_IOC_ACTIVATE, d, -ENXIO, w);
			check(d->reason == COW_E_DEVRANGE, "reason %u is COW_E_DEVRANGE",
			      d->reason);
			snprintf(w, sizeof(w), "deactivate devno %u", bad[i]);
			expect(fd, COW_IOC_DEACTIVATE, d, -ENXIO, w);
			snprintf(w, sizeof(w), "sync devno %u", bad[i]);
			expect(fd, COW_IOC_SYNC, d, -ENXIO, w);
		}
	}
	for (i = 0; i < mc; i += (mc > 64 ? 97 : 1)) {
		char w[64];

		d = req_new(i, NULL, NULL);
		snprintf(w, sizeof(w), "deactivate inactive cow%u", i);
		expect(fd, COW_IOC_DEACTIVATE, d, -ENXIO, w);
	}
	d = req_new(mc - 1, NULL, NULL);
	expect(fd, COW_IOC_SYNC, d, -ENXIO, "sync of inactive last device");
	d = req_new(COW_DEV_ANY, NULL, NULL);
	expect(fd, COW_IOC_SYNC, d, 0, "sync of all (none active)");
	d = req_new(mc - 1, NULL, "/tmp/cowioctl-ckpt.cow");
	expect(fd, COW_IOC_CHECKPOINT, d, -ENXIO, "checkpoint of an inactive device");
	d = req_new(0, NULL, "relative.cow");
	expect(fd, COW_IOC_CHECKPOINT, d, -EINVAL, "checkpoint to a relative path");
	check(d->reason == COW_E_PATH, "checkpoint to a relative path: reason %u",
	      d->reason);
	expect(fd, COW_IOC_DEACTIVATE, d, -ENXIO, "deactivate COW_DEV_ANY");

	/* --- commands, sizes, reserved fields, flags ------------------------ */
	{
		unsigned long bad[] = {
			0, 0xdeadbeef, _IO(COW_IOC_MAGIC, 1),
			_IOWR(COW_IOC_MAGIC, 0, struct cow_ioc_dev),
			_IOWR(COW_IOC_MAGIC, 5, struct cow_ioc_dev),
			_IOWR(COW_IOC_MAGIC, 255, struct cow_ioc_dev),
			_IOW(COW_IOC_MAGIC, 1, struct cow_ioc_dev),
			_IOR(COW_IOC_MAGIC, 2, struct cow_ioc_dev),
			_IOWR(COW_IOC_MAGIC, 1, __u64[2]),
			_IOWR(COW_IOC_MAGIC, 2, __u32),
			_IOC(_IOC_READ | _IOC_WRITE, COW_IOC_MAGIC, 3,
			     sizeof(struct cow_ioc_dev) - 1),
			_IOC(_IOC_READ | _IOC_WRITE, COW_IOC_MAGIC, 1,
			     _IOC_SIZEMASK),
			BLKGETSIZE64, BLKFLSBUF, FIONREAD, FIOCLEX + 0x100,
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char w[64];

			d = req_new(0, rdo, cow);
			snprintf(w, sizeof(w), "unknown cmd %#lx", bad[i]);
			expect(fd, bad[i], d, -ENOTTY, w);
			expect(fd, bad[i], NULL, -ENOTTY, "  with NULL");
		}
	}
	for (i = 0; i < 3; i++) {
		char w[96];
		unsigned int k;

		d = req_new(COW_DEV_ANY, rdo, cow);
		d->reserved0 = 1;
		snprintf(w, sizeof(w), "%s with reserved0=1", names[i]);
		expect(fd, cmds[i], d, -EINVAL, w);
		d = req_new(COW_DEV_ANY, rdo, cow);
		d->detail = 1;
		snprintf(w, sizeof(w), "%s with detail set on input", names[i]);
		expect(fd, cmds[i], d, -EINVAL, w);
		for (k = 0; k < 5; k++) {
			d = req_new(COW_DEV_ANY, rdo, cow);
			d->reserved[k] = 1ULL << 63;
			snprintf(w, sizeof(w), "%s with reserved[%u] set", names[i], k);
			expect(fd, cmds[i], d, -EINVAL, w);
		}
	}
	d = req_new(COW_DEV_ANY, rdo, cow);
	d->flags = (COW_ACT_KNOWN << 1) & ~COW_ACT_KNOWN;
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "activate with the first unknown flag");
	d->flags = COW_ACT_READONLY | COW_ACT_REPAIR;
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "activate read-only with repair");
	check(d->reason == COW_E_ROREPAIR, "read-only with repair: reason %u", d->reason);
	d->flags = COW_ACT_READONLY;
	expect(fd, COW_IOC_ACTIVATE, d, -ENOENT, "activate read-only without a cowfile");
	check(d->reason == COW_E_NOCOWFILE, "read-only without a cowfile: reason %u", d->reason);
	d->flags = 0x80000000;
	expect(fd, COW_IOC_ACTIVATE, d, -EINVAL, "activate with unknown flag 0x80000000");
	check(access(cow, F_OK) != 0, "still no cowfile created");

	/* --- one good activation, then misuse around it --------------------- */
	d = req_new(COW_DEV_ANY, rdo, cow);
	d->reason = 12345;
	r = ioc(fd, COW_IOC_ACTIVATE, d);
	check(r == 0 && d->devno < mc && d->reason == 0,
	      "good activation: %s, devno %u, reason %u", ename(r), d->devno,
	      d->reason);
	if (r == 0) {
		unsigned int dev = d->devno;
		char node[64];
		int bfd;

		d = req_new(dev, rdo, cow);
		expect(fd, COW_IOC_ACTIVATE, d, -EBUSY, "activate the active device again");
		check(d->reason == COW_E_DEVBUSY, "reason %u is COW_E_DEVBUSY", d->reason);
		d = req_new(COW_DEV_ANY, rdo, cow);
		expect(fd, COW_IOC_ACTIVATE, d, -EBUSY, "its cowfile on another device");
		check(d->reason == COW_E_INUSE, "reason %u is COW_E_INUSE", d->reason);
		d = req_new(dev, NULL, NULL);
		expect(fd, COW_IOC_SYNC, d, 0, "sync of the active device");
		snprintf(node, sizeof(node), "/dev/cow/%u", dev);
		bfd = open(node, O_RDONLY);
		check(bfd >= 0, "open %s", node);
		expect(fd, COW_IOC_DEACTIVATE, d, -EBUSY, "deactivate while open");
		if (bfd >= 0)
			close(bfd);
		r = deact(fd, dev);
		check(r == 0, "deactivate after close: %s", ename(r));
		expect(fd, COW_IOC_DEACTIVATE, d, -ENXIO, "deactivate twice");
		expect(fd, COW_IOC_SYNC, d, -ENXIO, "sync after deactivation");
	}
	/* the ctl fd opened read-only works the same (permission is CAP) */
	{
		int rfd = ctl_fd(O_RDONLY);

		d = req_new(COW_DEV_ANY, NULL, NULL);
		expect(rfd, COW_IOC_SYNC, d, 0, "sync through a read-only ctl fd");
		close(rfd);
	}
	close(fd);
	printf("garbage: %d failures\n", failures);
	return failures;
}

/* ---- race ---------------------------------------------------------- */

static volatile sig_atomic_t stop;
static void on_alarm(int sig) { (void)sig; stop = 1; }

/* Loop: activate @devno, deactivate it; only the expected errors. */
static int racer(int id, const char *rdo, const char *cow, unsigned int devno)
{
	int fd = ctl_fd(O_RDWR), bad = 0;
	unsigned long act = 0, deacts = 0, busy = 0, nx = 0, n = 0;

	while (!stop) {
		struct cow_ioc_dev *d = req_new(devno, rdo, cow);
		int r = ioc(fd, COW_IOC_ACTIVATE, d);

		if (r == 0)
			act++;
		else if (r == -EBUSY)	/* DEVBUSY or INUSE: the other won */
			busy++;
		else if (bad++ < 5)
			printf("FAIL: racer %d: activate: %s (reason %u)\n", id,
			       ename(r), d->reason);
		free(d);
		d = req_new(devno, NULL, NULL);
		if (n++ % 3 == (unsigned long)id)
			ioc(fd, COW_IOC_SYNC, d);
		r = ioc(fd, COW_IOC_DEACTIVATE, d);
		if (r == 0)
			deacts++;
		else if (r == -ENXIO || r == -EBUSY)	/* gone, or opened */
			nx++;
		else if (bad++ < 5)
			printf("FAIL: racer %d: deactivate: %s\n", id, ename(r));
		free(d);
	}
	printf("racer %d: %lu activations, %lu deactivations, %lu busy, %lu gone/open\n",
	       id, act, deacts, busy, nx);
	fflush(stdout);
	return bad ? 1 : 0;
}

/* Loop: open the device node and read from it when it exists. */
static int opener(unsigned int devno)
{
	char node[64], buf[4096];
	unsigned long opened = 0, reads = 0, n = 0;
	int bad = 0;

	snprintf(node, sizeof(node), "/dev/cow/%u", devno);
	while (!stop) {
		int fd = open(node, O_RDONLY);

		if (fd < 0) {
			if (errno != ENOENT && errno != ENXIO && errno != ENODEV &&
			    bad++ < 5)
				printf("FAIL: opener: open: %s\n", strerror(errno));
			if (n++ % 64 == 0)
				usleep(1000);
			continue;
		}
		opened++;
		if (pread(fd, buf, sizeof(buf), 4096 * (opened % 16)) ==
		    (ssize_t)sizeof(buf))
			reads++;
		close(fd);
	}
	printf("opener: %lu opens, %lu full reads\n", opened, reads);
	fflush(stdout);
	return bad ? 1 : 0;
}

static int race(const char *rdo, const char *cow, unsigned int devno,
		unsigned int secs)
{
	pid_t pid[3];
	int i, st, bad = 0, fd;

	signal(SIGALRM, on_alarm);
	for (i = 0; i < 3; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			alarm(secs);
			exit(i < 2 ? racer(i, rdo, cow, devno) : opener(devno));
		}
	}
	for (i = 0; i < 3; i++) {
		if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			printf("FAIL: child %d ended with status %#x\n", i, st);
			bad++;
		}
	}
	fd = ctl_fd(O_RDWR);
	i = deact(fd, devno);
	check(i == 0 || i == -ENXIO, "final deactivation: %s", ename(i));
	check(!is_active(devno), "cow%u inactive at the end", devno);
	close(fd);
	return bad + failures;
}

/* ---- unpriv -------------------------------------------------------- */

static int unpriv(unsigned int devno)
{
	static const char *const attrs[] = { "rdofile", "cowfile", "state" };
	unsigned long cmds[] = { COW_IOC_ACTIVATE, COW_IOC_DEACTIVATE,
				 COW_IOC_SYNC };
	struct cow_ioc_dev *d;
	char path[128], buf[4200];
	unsigned int i;
	int fd;

	if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) {
		perror("dropping to nobody");
		return 100;
	}
	check(getuid() == 65534 && geteuid() == 65534, "running as uid 65534");
	fd = open(ctl, O_RDWR);
	check(fd < 0 && errno == EACCES, "open %s read-write as nobody: %s",
	      ctl, fd < 0 ? strerror(errno) : "opened");
	if (fd >= 0)
		close(fd);
	fd = open(ctl, O_RDONLY);
	check(fd >= 0, "open %s read-only as nobody (mode 0644)", ctl);
	if (fd >= 0) {
		for (i = 0; i < 3; i++) {
			d = req_new(i == 0 ? COW_DEV_ANY : devno, "/tmp/r", "/tmp/c");
			expect(fd, cmds[i], d, -EPERM, "ioctl as nobody");
			expect(fd, cmds[i], NULL, -EPERM, "ioctl as nobody, NULL");
		}
		expect(fd, 0xdeadbeef, NULL, -ENOTTY, "unknown cmd as nobody");
		close(fd);
	}
	for (i = 0; i < 3; i++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/block/cow%u/cowloop/%s",
			 devno, attrs[i]);
		fd = open(path, O_RDONLY);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
		if (n > 0)
			buf[n - 1] = 0;
		check(n > 0, "read %s as nobody: %s", path,
		      n > 0 ? buf : strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	snprintf(path, sizeof(path), "/sys/block/cow%u/size", devno);
	check(access(path, R_OK) == 0, "%s readable as nobody", path);
	snprintf(path, sizeof(path), "/dev/cow/%u", devno);
	fd = open(path, O_RDONLY);
	check(fd < 0 && errno == EACCES, "open %s as nobody: %s", path,
	      fd < 0 ? strerror(errno) : "opened");
	if (fd >= 0)
		close(fd);
	return failures;
}

/* ---------------------------------------------------------------- */
/* failsweep: every fault point of one ioctl fails in turn           */
/* ---------------------------------------------------------------- */

#define SWEEP_BLK	4096

static int failnth_fd = -1;

static void failnth_set(unsigned int n)
{
	char b[16];
	int len = snprintf(b, sizeof(b), "%u", n);

	if (pwrite(failnth_fd, b, len, 0) != len) {
		perror("/proc/self/fail-nth");
		exit(100);
	}
}

static unsigned int failnth_get(void)
{
	char b[16] = "";

	if (pread(failnth_fd, b, sizeof(b) - 1, 0) <= 0) {
		perror("/proc/self/fail-nth");
		exit(100);
	}
	return strtoul(b, NULL, 10);
}

/*
 * The ioctl @cmd with its @n-th fault point (slab, page allocation,
 * fail_function) failing: its result; *reached says whether it got there.
 */
static int ioc_nth(int fd, unsigned long cmd, struct cow_ioc_dev *d,
		   unsigned int n, int *reached)
{
	int r;

	failnth_set(n);
	r = ioc(fd, cmd, d);
	*reached = failnth_get() == 0;
	failnth_set(0);
	return r;
}

static int read_file(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY);
	off_t size;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	size = lseek(fd, 0, SEEK_END);
	*buf = malloc(size + 1);
	if (size < 0 || !*buf || pread(fd, *buf, size, 0) != size) {
		close(fd);
		return -EIO;
	}
	*len = size;
	close(fd);
	return 0;
}

/* Put back the cowfile as it was (@exists 0: no file). */
static void put_back(const char *path, int exists, const char *buf,
		     size_t len)
{
	int fd;

	if (!exists) {
		unlink(path);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || pwrite(fd, buf, len, 0) != (ssize_t)len ||
	    ftruncate(fd, len) || fsync(fd)) {
		perror(path);
		exit(100);
	}
	close(fd);
}

/* The cowfile is as it was before a refused activation. */
static int unchanged(const char *path, int exists, const char *buf,
		     size_t len)
{
	char *now;
	size_t nlen;
	int r = read_file(path, &now, &nlen);

	if (!exists)	/* a new cowfile stays new: absent or empty */
		r = r == -ENOENT || (!r && nlen == 0);
	else
		r = !r && nlen == len && !memcmp(now, buf, len);
	free(now);
	return r;
}

/* Header flags (COW_F_*), or -1 when unreadable. */
static int cow_flags(const char *path)
{
	unsigned char h[8];
	int fd = open(path, O_RDONLY);
	int r = -1;

	if (fd >= 0 && pread(fd, h, sizeof(h), 0) == sizeof(h))
		r = h[6] | h[7] << 8;
	if (fd >= 0)
		close(fd);
	return r;
}

static int active_count(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < COW_MAXCOWS_LIMIT; i++)
		n += is_active(i);
	return n;
}

static void fill(char *b, unsigned int blk)
{
	unsigned int i;

	for (i = 0; i < SWEEP_BLK; i += 8)
		snprintf(b + i, 9, "%07x", blk * SWEEP_BLK + i);
}

/*
 * Write @want (@len bytes, a multiple of 512) at @off of cowdevice
 * @devno and fsync it, or read it there and compare, O_DIRECT; waits for
 * the device node first.  0 or -errno (-EILSEQ: read back other data).
 */
static int dev_io(unsigned int devno, off_t off, const char *want,
		  size_t len, int write)
{
	char path[64], *b;
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "/dev/cow/%u", devno);
	for (r = 0; r < 50 && access(path, F_OK); r++)
		usleep(100000);
	fd = open(path, (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return -errno;
	if (posix_memalign((void **)&b, 4096, len))
		exit(100);
	if (write) {	/* acknowledged, durable: it must read back */
		memcpy(b, want, len);
		n = pwrite(fd, b, len, off);
		if (n == (ssize_t)len && fsync(fd))
			n = -1;
	} else {
		n = pread(fd, b, len, off);
	}
	r = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
	if (!r && !write && memcmp(b, want, len))
		r = -EILSEQ;
	close(fd);
	free(b);
	return r;
}

/* Write and fsync (or check) block @blk of cowdevice @devno. */
static int dev_block(unsigned int devno, unsigned int blk, int write)
{
	char want[SWEEP_BLK];

	fill(want, blk);
	return dev_io(devno, (off_t)blk * SWEEP_BLK, want, SWEEP_BLK, write);
}

static int activate_plain(int fd, const char *rdo, const char *cow,
			  unsigned int flags)
{
	struct cow_ioc_dev *d = req_new(COW_DEV_ANY, rdo, cow);
	int r;

	d->flags = flags;
	r = ioc(fd, COW_IOC_ACTIVATE, d);
	check(r == 0, "activation without fault: %s", ename(r));
	r = r ? -1 : (int)d->devno;
	free(d);
	return r;
}

/*
 * failsweep MODE RDO COW MAX: for n = 1, 2, ... make the n-th fault
 * point (see should_fail_ex(): every slab or page allocation failslab or
 * fail_page_alloc may fail, every function registered in fail_function)
 * of one ioctl fail, until the ioctl completes without reaching it.
 *   act:   activation of COW (as it is on entry: absent, new or with
 *          data); refused: no device left, the cowfile as it was;
 *          activated: deactivates cleanly.  The cowfile is put back
 *          after each.
 *   sync:  COW_IOC_SYNC after a new block was written; the device
 *          stays active.
 *   deact: COW_IOC_DEACTIVATE after a new block was written; refused:
 *          still active; done: gone, the cowfile clean or, when the final
 *          write failed, dirty and repaired by the next activation.
 * sync and deact then read back every block written.  Prints one line
 * per result kind and "faults injected and survived: N".
 */
static int failsweep(const char *mode, const char *rdo, const char *cow,
		     unsigned int max)
{
	int is_act = !strcmp(mode, "act"), is_deact = !strcmp(mode, "deact");
	int fd = ctl_fd(O_RDWR), exists, reached = 0, r, devno = -1;
	unsigned int n, refused = 0, absorbed = 0, dirty = 0, blk;
	unsigned int errs[200] = { 0 };
	size_t len;
	char *orig;

	failnth_fd = open("/proc/self/fail-nth", O_RDWR | O_CLOEXEC);
	if (failnth_fd < 0) {
		perror("/proc/self/fail-nth");
		return 1;
	}
	if (!is_act && !is_deact && strcmp(mode, "sync"))
		return 2;
	exists = read_file(cow, &orig, &len) == 0;
	if (!is_act && (devno = activate_plain(fd, rdo, cow, 0)) < 0)
		return 1;
	for (n = 1; n <= max; n++) {
		struct cow_ioc_dev *d;

		if (is_act) {
			d = req_new(COW_DEV_ANY, rdo, cow);
			r = ioc_nth(fd, COW_IOC_ACTIVATE, d, n, &reached);
		} else {
			r = dev_block(devno, n, 1);
			check(r == 0, "%s %u: write of block %u: %s", mode,
			      n, n, ename(r));
			d = req_new(devno, NULL, NULL);
			r = ioc_nth(fd, is_deact ? COW_IOC_DEACTIVATE :
				    COW_IOC_SYNC, d, n, &reached);
		}
		if (r) {
			refused++;
			errs[-r < 200 ? -r : 0]++;
			check(reached, "%s %u: failed (%s) without a fault",
			      mode, n, ename(r));
		} else if (reached) {
			absorbed++;
		}
		if (is_act && r) {
			if (!unchanged(cow, exists, orig, len) ||
			    active_count())
				check(0, "act %u: refused (%s): cowfile %s, %d devices active",
				      n, ename(r), unchanged(cow, exists, orig, len) ?
				      "as it was" : "CHANGED", active_count());
		} else if (is_act) {
			check(deact(fd, d->devno) == 0,
			      "act %u: deactivation after it", n);
			check(cow_flags(cow) == 0,
			      "act %u: cowfile clean after deactivation", n);
			put_back(cow, exists, orig, len);
		} else if (is_deact && r) {
			check(is_active(devno), "deact %u: refused (%s), still active",
			      n, ename(r));
			check(deact(fd, devno) == 0, "deact %u: deactivation again", n);
		} else if (!is_deact) {
			check(is_active(devno), "sync %u: still active", n);
		}
		if (is_deact) {
			check(!is_active(devno), "deact %u: device gone", n);
			r = cow_flags(cow);
			if (r & COW_F_DIRTY)
				dirty++;
			check(r == 0 || r == COW_F_DIRTY,
			      "deact %u: cowfile flags %d", n, r);
			devno = activate_plain(fd, rdo, cow,
					       r ? COW_ACT_REPAIR : 0);
			if (devno < 0)
				break;
		}
		free(d);
		if (!reached)
			break;
	}
	check(!reached, "%s: ran without a fault after %u fault points (at most %u)",
	      mode, n - 1, max);
	if (!is_act && devno >= 0) {
		for (blk = 1; blk <= n && blk <= max; blk++) {
			r = dev_block(devno, blk, 0);
			check(r == 0, "%s: block %u reads back: %s", mode, blk,
			      ename(r));
		}
		check(deact(fd, devno) == 0, "%s: final deactivation", mode);
		check(cow_flags(cow) == 0, "%s: cowfile clean at the end", mode);
	}
	printf("%s: %u fault points: %u refused, %u absorbed (the ioctl worked)",
	       mode, n - 1, refused, absorbed);
	for (r = 0; r < 200; r++)
		if (errs[r])
			printf(", %u %s", errs[r], r ? strerror(r) : "other");
	if (is_deact)
		printf(", %u left the cowfile dirty (repaired)", dirty);
	printf("\nfaults injected and survived: %u\n", n - 1);
	free(orig);
	close(fd);
	return failures;
}

/*
 * churn RDO DIR ROUND N: cow-churn's round ROUND in one process.  N
 * activations of RDO, each with a new cowfile DIR/cD.cow on cowdevice D
 * spread over 0..1020 (the first on 0, the second on 1020); on each a
 * 3 KiB direct write at I KiB (three 1 KiB units, not 4 KiB aligned),
 * fsync'd and read back, then deactivation and unlink.  A shell loop of
 * cowdev, dd and rm spent most of its time starting processes: 25 s a
 * cycle on the debug kernel of make check-debug.
 */
#define CHURN_LEN	3072
static int churn(const char *rdo, const char *dir, unsigned int round,
		 unsigned int n)
{
	int fd = ctl_fd(O_RDWR), r;
	char cow[COW_PATH_MAX], dev[64], want[CHURN_LEN];
	unsigned int i, d, ok = 0;

	for (i = 0; i < n; i++) {
		struct cow_ioc_dev *req;
		off_t off = (off_t)i * 1024;

		d = i == 0 ? 0 : i == 1 ? 1020 : (i * 17 + round * 5) % 1021;
		snprintf(cow, sizeof(cow), "%s/c%u.cow", dir, d);
		snprintf(dev, sizeof(dev), "/dev/cow/%u", d);
		req = req_new(d, rdo, cow);
		r = ioc(fd, COW_IOC_ACTIVATE, req);
		free(req);
		if (r) {
			check(0, "churn %u.%u: activation on %s: %s", round, i,
			      dev, ename(r));
			continue;
		}
		memset(want, 'a' + (i + round) % 26, CHURN_LEN);
		r = dev_io(d, off, want, CHURN_LEN, 1);
		if (!r)
			r = dev_io(d, off, want, CHURN_LEN, 0);
		if (r)
			check(0, "churn %u.%u: write and read back on %s: %s",
			      round, i, dev, ename(r));
		r = deact(fd, d);
		if (r)
			check(0, "churn %u.%u: deactivation of %s: %s", round,
			      i, dev, ename(r));
		else if (unlink(cow))
			check(0, "churn %u.%u: unlink %s: %s", round, i, cow,
			      strerror(errno));
		else
			ok++;
	}
	printf("churn round %u: %u of %u cycles done\n", round, ok, n);
	close(fd);
	return failures;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "garbage"))
		return garbage(argv[2], argv[3]) ? 1 : 0;
	if (argc == 6 && !strcmp(argv[1], "race"))
		return race(argv[2], argv[3], strtoul(argv[4], NULL, 0),
			    strtoul(argv[5], NULL, 0)) ? 1 : 0;
	if (argc == 3 && !strcmp(argv[1], "unpriv"))
		return unpriv(strtoul(argv[2], NULL, 0)) ? 1 : 0;
	if (argc == 6 && !strcmp(argv[1], "churn"))
		return churn(argv[2], argv[3], strtoul(argv[4], NULL, 0),
			     strtoul(argv[5], NULL, 0)) ? 1 : 0;
	if (argc == 6 && !strcmp(argv[1], "failsweep"))
		return failsweep(argv[2], argv[3], argv[4],
				 strtoul(argv[5], NULL, 0)) ? 1 : 0;
	fprintf(stderr, "usage: cowioctl garbage RDO COW | race RDO COW DEVNO SECONDS | unpriv DEVNO | churn RDO DIR ROUND N | failsweep act|sync|deact RDO COW MAX\n");
	return 2;
}
