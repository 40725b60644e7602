/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowloop: internal definitions of the kernel module.
 */
#ifndef _COW_H
#define _COW_H

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "cowfmt.h"

#define COW_SECTORS_PER_UNIT	(COW_MAPUNIT >> SECTOR_SHIFT)
/* Units described by one in-memory bitmap page. */
#define COW_BM_UNITS		(PAGE_SIZE * BITS_PER_BYTE)
/* An error is logged again only after this long without one. */
#define COW_ERR_QUIET		(30 * HZ)
/* Warn when the cowfile's file system has less free space (percent). */
#define COW_SPACE_LOW_PCT	5
/* Largest request, as loop's (1280 KiB). */
#define COW_MAX_HW_SECTORS	2560U
/* Largest discard or write-zeroes (1 GiB): 32 bitmap pages at most. */
#define COW_MAX_ZERO_SECTORS	(SZ_1G >> SECTOR_SHIFT)
/* Ranges read from the rdofile noted for copy-on-read (see fill.c). */
#define COW_COR_MAX		64
/* Bitmap pages written per flush batch (see bitmap.c). */
#define COW_FLUSH_BATCH		16

enum cow_state {
	COW_SETUP,		/* being activated: claims its files and devno */
	COW_ACTIVE,		/* serving I/O */
	COW_RUNDOWN,		/* being deactivated: no new opens */
};

/* Where the last error came from, to log one line per cause. */
enum cow_file_id {
	COW_RDO,
	COW_COW,
	COW_NR_FILES,
};

struct cow_ckpt;

struct cow_dev {
	int			devno;
	enum cow_state		state;
	spinlock_t		lock;		/* state, opens, lists, inflight */
	int			opens;

	struct gendisk		*disk;
	struct task_struct	*thread;
	struct rw_semaphore	hold;		/* the thread serves under it */
	wait_queue_head_t	wq;		/* thread wakeup */
	struct bio_list		bios;		/* submitted, for the thread */
	struct bio_list		fua_bios;	/* FUA writes awaiting a flush */
	atomic_t		inflight;	/* cow_io in flight */
	mempool_t		*io_pool;	/* struct cow_io reserve */
	mempool_t		*rq_pool;	/* struct cow_rq reserve */
	wait_queue_head_t	drain_wq;	/* inflight or dio_writes shrank */
	struct list_head	dio_writes;	/* cow_io with a direct write */
	unsigned int		dio_align;	/* cowfile page (and block) size */

	struct file		*file[COW_NR_FILES];	/* buffered */
	struct file		*dio[COW_NR_FILES];	/* O_DIRECT or NULL */
	char			*path[COW_NR_FILES];
	gfp_t			old_gfp_mask;	/* of the cowfile's mapping */
	unsigned long		err_logged;	/* bit per cow_file_id */
	unsigned long		err_time[COW_NR_FILES];	/* last error */
	atomic_t		err_count[COW_NR_FILES];	/* since logged */
	s64			space_left;	/* bytes until next statfs */
	unsigned long		space_check;	/* jiffies of next statfs */
	bool			space_low;	/* warned about free space */

	/* cowfile metadata */
	struct mutex		meta_mutex;	/* header and bitmap writes */
	struct cow_hdr		hdr;		/* in-memory header */
	bool			disk_dirty;	/* DIRTY flag is on disk */
	errseq_t		wb_since;	/* cowfile's wb_err at activation */
	bool			wb_lost;	/* writeback of it failed since */
	bool			mem_dirty;	/* bitmap changed since sync */
	struct xarray		bitmap;		/* page index -> bitmap page */
	mempool_t		*bm_pool;	/* bitmap page reserve */
	atomic_long_t		bm_pages;	/* pages in it */
	atomic_long_t		bm_zero;	/* zero markers in it */
	long			bm_ndirty;	/* pages marked dirty (xa_lock) */
	u64			bm_setgen;	/* times bits were set (xa_lock) */
	unsigned long		bm_cursor;	/* where eviction goes on (thread) */
	/* pages a fetch needs, kept by eviction meanwhile (thread) */
	bool			bm_pinned;
	u64			bm_pin_first, bm_pin_last;
	bool			bm_trim;	/* the shrinker asks for memory */
	struct shrinker		*shrinker;
	atomic64_t		cowused;
	void			*flush_buf;	/* COW_FLUSH_BATCH pages */
	void			*unit_buf;	/* one unit, for copy-up */
	void			*hdr_buf;	/* header block */
	void			*orig_hdr;	/* as found, during activation */
	bool			created;	/* cowfile was empty (new) */
	bool			committed;	/* activation wrote the cowfile */
	bool			claimed;	/* files checked, not in use */
	bool			readonly;	/* activated read-only */
	bool			partscan;	/* partitions are scanned */
	bool			mm_build;	/* activation writes the modified map */

	/* copied units (fill.c): the thread's, but fill_rate (sysfs) */
	bool			standalone;	/* COW_ACT_STANDALONE: no rdofile */
	bool			copyread;	/* COW_ACT_COPYREAD */
	bool			filling;	/* COW_ACT_FILL, until all are in */
	bool			fill_failed;	/* a copy failed: no more */
	u64			fill_pos;	/* the fill's next unit */
	unsigned long		fill_last;	/* jiffies: the last copy, */
	u64			fill_len;	/* of so many bytes */
	unsigned int		fill_rate;	/* KiB/s, 0: no limit */
	void			*fill_buf;
	struct {
		u64		unit, count;
	}			cor[COW_COR_MAX];
	unsigned int		cor_n;
	atomic64_t		copied;		/* units copied */
	/* a checkpoint copying (checkpoint.c): under ckpt_mutex, hold */
	struct mutex		ckpt_mutex;	/* one checkpoint at a time */
	struct xarray		ckpt_sets[2];	/* chunks changed: the thread */
	struct xarray		*ckpt_note;	/* notes in this one, or none, */
	bool			ckpt_lost;	/* unless it could not; */
	struct cow_ckpt		*ckpt_pending;	/* then copies these first */
	bool			can_punch;	/* cowfile takes PUNCH_HOLE */
	enum cow_reason		reason;		/* why activation was refused */
	u64			detail;		/* and cow_ioc_dev.detail */
	const char		*err_file;	/* "rdofile"/"cowfile": open failed */

	atomic64_t		rdoreads;
	atomic64_t		cowreads;
	atomic64_t		cowwrites;
	struct dentry		*debugfs;
};

/* dev.c */
extern unsigned int cow_maxcows;
extern bool cow_direct_io;
int cow_activate(struct cow_ioc_dev *req, struct cow_dev **held);
void cow_publish(struct cow_dev *cd);
void cow_abort(struct cow_dev *cd);
int cow_deactivate(unsigned int devno);
int cow_sync(unsigned int devno);
struct cow_dev *cow_dev_get(unsigned int devno);
void cow_dev_put(struct cow_dev *cd);

/* fill.c */
bool cow_mm_on(struct cow_dev *cd);
int cow_mm_build(struct cow_dev *cd);
int cow_mm_set(struct cow_dev *cd, u64 unit, u64 count);
void cow_cor_note(struct cow_dev *cd, u64 unit, u64 count);
bool cow_fill_pending(struct cow_dev *cd);
long cow_fill_wait(struct cow_dev *cd);
void cow_fill_step(struct cow_dev *cd);
int cow_fill_init(struct cow_dev *cd);

/* checkpoint.c */
int cow_checkpoint(struct cow_ioc_dev *req);
void cow_ckpt_note(struct cow_dev *cd, u64 unit, u64 count);
void cow_deactivate_all(void);
int cow_dev_init(void);
void cow_dev_exit(void);

/* io.c */
int cow_io_init(void);
void cow_io_exit(void);
int cow_io_dev_init(struct cow_dev *cd);
unsigned long cow_io_memory(void);
void cow_io_dev_exit(struct cow_dev *cd);
void cow_submit_bio(struct bio *bio);
int cow_thread(void *data);
extern const char *const cow_file_names[COW_NR_FILES];
void cow_log_error(struct cow_dev *cd, enum cow_file_id id, long err);

/* bitmap.c */
int cow_bm_init(void);
void cow_bm_exit(void);
int cow_bm_load(struct cow_dev *cd, bool repair);
bool cow_bm_test(struct cow_dev *cd, u64 unit);
u64 cow_bm_run(struct cow_dev *cd, u64 unit, u64 end, bool *in_cow);
int cow_bm_fetch(struct cow_dev *cd, u64 unit, u64 count);
int cow_bm_prepare(struct cow_dev *cd, u64 unit, u64 count);
void cow_bm_set(struct cow_dev *cd, u64 unit, u64 count);
int cow_bm_flush(struct cow_dev *cd);
int cow_bm_sync(struct cow_dev *cd, bool clean);
int cow_bm_keep_dirty(struct cow_dev *cd);
void cow_bm_free(struct cow_dev *cd);
bool cow_next_data(struct file *file, loff_t *pos, loff_t *len, loff_t end);
int cow_bm_dev_init(struct cow_dev *cd);
unsigned long cow_bm_memory(struct cow_dev *cd);
void cow_bm_trim(struct cow_dev *cd);
int cow_bm_shrinker_add(struct cow_dev *cd);
void cow_bm_shrinker_del(struct cow_dev *cd);

/* meta.c */
int cow_refuse(struct cow_dev *cd, enum cow_reason reason);
int cow_file_rw(struct cow_dev *cd, enum cow_file_id id, bool write,
		void *buf, size_t len, loff_t pos);
int cow_hdr_store(struct cow_dev *cd, u16 flags, u64 used);
int cow_hdr_mark_dirty(struct cow_dev *cd);
int cow_wb_check(struct cow_dev *cd);

/* status.c */
extern const struct attribute_group *cow_attr_groups[];
void cow_status_add(struct cow_dev *cd);
void cow_status_remove(struct cow_dev *cd);
void cow_status_init(void);
void cow_status_exit(void);

#endif /* _COW_H */
