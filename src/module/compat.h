/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cowloop: the few kernel API differences between the kernels we build
 * for (6.1 to 7.3), each behind a feature probe made by Kbuild from the
 * kernel's own headers (never a version number: distributions backport).
 * Where it can, the source uses the newest kernel's name and this file
 * gives it to the older kernels.  doc/design.md has the table.
 */
#ifndef _COW_COMPAT_H
#define _COW_COMPAT_H

#include <linux/blkdev.h>
#include <linux/shrinker.h>
#include <linux/slab.h>

/*
 * 6.5 passes the gendisk and a blk_mode_t to ->open and drops the mode
 * from ->release.
 */
#ifdef COW_HAVE_OPEN_GENDISK
#define COW_OPEN_ARGS		struct gendisk *disk, blk_mode_t mode
#define COW_OPEN_DISK		disk
#define COW_RELEASE_ARGS	struct gendisk *disk
#else
#define COW_OPEN_ARGS		struct block_device *bdev, fmode_t mode
#define COW_OPEN_DISK		(bdev->bd_disk)
#define COW_RELEASE_ARGS	struct gendisk *disk, fmode_t mode
#endif

/* What the queue of a cowdevice advertises. */
struct cow_limits {
	unsigned int	lbs;			/* logical block size */
	unsigned int	pbs;			/* physical block size */
	unsigned int	max_sectors;		/* largest read or write */
	unsigned int	discard_sectors;	/* largest discard, 0: none */
	unsigned int	write_zeroes_sectors;	/* 0: no write-zeroes */
	bool		rotational;
};

/*
 * 6.9 takes the queue limits at allocation, 6.11 turns the write cache,
 * FUA, rotational and I/O accounting into features of those limits.  Discards are
 * byte-granular here (cowloop zeroes parts of units itself).
 */
static inline struct gendisk *cow_alloc_disk(const struct cow_limits *l)
{
	struct gendisk *disk;
#ifdef COW_HAVE_ALLOC_LIMITS
	struct queue_limits lim = {
		.logical_block_size = l->lbs,
		.physical_block_size = l->pbs,
		.io_min = l->pbs,
		.max_hw_sectors = l->max_sectors,
		.max_hw_discard_sectors = l->discard_sectors,
		.discard_granularity = l->lbs,
		.max_write_zeroes_sectors = l->write_zeroes_sectors,
#ifdef COW_HAVE_BLK_FEAT
		.features = BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA |
			    BLK_FEAT_IO_STAT |
			    (l->rotational ? BLK_FEAT_ROTATIONAL : 0),
#endif
	};

	disk = blk_alloc_disk(&lim, NUMA_NO_NODE);
	if (IS_ERR(disk))
		return disk;
#else
	disk = blk_alloc_disk(NUMA_NO_NODE);
	if (!disk)
		return ERR_PTR(-ENOMEM);
	blk_queue_logical_block_size(disk->queue, l->lbs);
	blk_queue_physical_block_size(disk->queue, l->pbs);
	blk_queue_io_min(disk->queue, l->pbs);
	blk_queue_max_hw_sectors(disk->queue, l->max_sectors);
	blk_queue_max_discard_sectors(disk->queue, l->discard_sectors);
	disk->queue->limits.discard_granularity = l->lbs;
	blk_queue_max_write_zeroes_sectors(disk->queue,
					   l->write_zeroes_sectors);
#endif
#ifndef COW_HAVE_BLK_FEAT
	blk_queue_write_cache(disk->queue, true, true);
	blk_queue_flag_set(QUEUE_FLAG_IO_STAT, disk->queue);
	if (l->rotational)
		blk_queue_flag_clear(QUEUE_FLAG_NONROT, disk->queue);
	else
		blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
#endif
	return disk;
}

/*
 * 7.2 asks whether a disk is rotational (bdev_rot), where older kernels
 * asked whether it is not (bdev_nonrot).
 */
#ifndef COW_HAVE_BDEV_ROT
static inline bool bdev_rot(struct block_device *bdev)
{
	return !bdev_nonrot(bdev);
}
#endif

/*
 * The bytes of the current bvec a bvec_iter has consumed: bi_bvec_done
 * until 7.3, bi_offset since.
 */
static inline unsigned int cow_bvec_iter_offset(const struct bvec_iter *it)
{
#ifdef COW_HAVE_BVEC_OFFSET
	return it->bi_offset;
#else
	return it->bi_bvec_done;
#endif
}

/*
 * 6.7 allocates shrinkers (shrinker_alloc, shrinker_register,
 * shrinker_free, ->private_data); before, the caller embedded one and
 * registered it.  cow_shrinker_new() gives a registered shrinker whose
 * cow_shrinker_priv() is @priv either way.
 */
typedef unsigned long (*cow_shrink_fn)(struct shrinker *,
				       struct shrink_control *);

#ifdef COW_HAVE_SHRINKER_ALLOC
static inline struct shrinker *cow_shrinker_new(void *priv, int id,
						cow_shrink_fn count,
						cow_shrink_fn scan)
{
	struct shrinker *s = shrinker_alloc(0, "cowloop-%d", id);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->private_data = priv;
	shrinker_register(s);
	return s;
}

static inline void *cow_shrinker_priv(struct shrinker *s)
{
	return s->private_data;
}

static inline void cow_shrinker_free(struct shrinker *s)
{
	shrinker_free(s);
}
#else
struct cow_shrinker {
	struct shrinker	s;
	void		*priv;
};

static inline struct shrinker *cow_shrinker_new(void *priv, int id,
						cow_shrink_fn count,
						cow_shrink_fn scan)
{
	struct cow_shrinker *cs = kzalloc(sizeof(*cs), GFP_KERNEL);

	if (!cs)
		return NULL;
	cs->s.count_objects = count;
	cs->s.scan_objects = scan;
	cs->s.seeks = DEFAULT_SEEKS;
	cs->priv = priv;
	if (register_shrinker(&cs->s, "cowloop-%d", id)) {
		kfree(cs);
		return NULL;
	}
	return &cs->s;
}

static inline void *cow_shrinker_priv(struct shrinker *s)
{
	return container_of(s, struct cow_shrinker, s)->priv;
}

static inline void cow_shrinker_free(struct shrinker *s)
{
	if (!s)
		return;
	unregister_shrinker(s);
	kfree(container_of(s, struct cow_shrinker, s));
}
#endif

/* 6.5: a slab cache can ask not to be merged with others (slabinfo). */
#ifndef SLAB_NO_MERGE
#define SLAB_NO_MERGE		0
#endif

#endif /* _COW_COMPAT_H */
