// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: activation and deactivation of cowdevices.
 *
 * A cowdevice lives from cow_activate() to cow_deactivate().  Both change
 * cow_devs under cow_ctl_mutex; the slow part of an activation (reading
 * the rdofile's fingerprint and the bitmap) runs outside it, killably,
 * while the device is COW_SETUP: its number and files are claimed, no
 * other activation can take them, and nothing else acts on it.  While a
 * device is open it cannot be deactivated; once deactivation has begun
 * (COW_RUNDOWN) it cannot be opened.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/error-injection.h>
#include <linux/falloc.h>
#include <linux/kthread.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include "compat.h"
#include "cow.h"

unsigned int cow_maxcows = COW_MAXCOWS_DEFAULT;
bool cow_direct_io = true;
static DEFINE_MUTEX(cow_ctl_mutex);
static DEFINE_XARRAY(cow_devs);		/* devno -> struct cow_dev */
static int cow_major;

/* ---------------------------------------------------------------- */
/* block device operations                                          */
/* ---------------------------------------------------------------- */

static int cow_open(COW_OPEN_ARGS)
{
	struct cow_dev *cd = COW_OPEN_DISK->private_data;
	int ret = 0;

	spin_lock_irq(&cd->lock);
	if (cd->state == COW_ACTIVE)
		cd->opens++;
	else
		ret = -ENXIO;
	spin_unlock_irq(&cd->lock);
	return ret;
}

static void cow_release(COW_RELEASE_ARGS)
{
	struct cow_dev *cd = disk->private_data;

	spin_lock_irq(&cd->lock);
	cd->opens--;
	spin_unlock_irq(&cd->lock);
}

/* A cowdevice activated read-only stays so: its cowfile is not open for writing. */
static int cow_set_read_only(struct block_device *bdev, bool ro)
{
	struct cow_dev *cd = bdev->bd_disk->private_data;

	if (!ro && cd->readonly) {
		pr_info("cow%d: activated read-only (cowdev -a -r): cannot be made writable\n",
			cd->devno);
		return -EROFS;
	}
	return 0;
}

static char *cow_devnode(struct gendisk *disk, umode_t *mode)
{
	return kasprintf(GFP_KERNEL, "cow/%d", disk->first_minor);
}

static const struct block_device_operations cow_fops = {
	.owner		= THIS_MODULE,
	.submit_bio	= cow_submit_bio,
	.open		= cow_open,
	.release	= cow_release,
	.set_read_only	= cow_set_read_only,
	.devnode	= cow_devnode,
};

/* ---------------------------------------------------------------- */
/* backing files                                                    */
/* ---------------------------------------------------------------- */

/* File type of @path, or 0 when it does not exist; negative on error. */
static int cow_path_type(const char *path, umode_t *type)
{
	struct path p;
	int ret;

	ret = kern_path(path, LOOKUP_FOLLOW, &p);
	if (ret == -ENOENT) {
		*type = 0;
		return 0;
	}
	if (ret)
		return ret;
	*type = d_inode(p.dentry)->i_mode & S_IFMT;
	path_put(&p);
	return 0;
}

static loff_t cow_file_size(struct file *file)
{
	return i_size_read(file->f_mapping->host);
}

/* The block device under a backing file, if any. */
static struct block_device *cow_backing_bdev(struct file *file)
{
	struct inode *inode = file->f_mapping->host;

	return S_ISBLK(inode->i_mode) ? I_BDEV(inode) : inode->i_sb->s_bdev;
}

/*
 * A second, O_DIRECT, opening of a backing file for the data path, when
 * its file system supports direct I/O and the device below takes 512-byte
 * aligned requests (what we pass on).  Otherwise all I/O stays buffered.
 */
static void cow_open_direct(struct cow_dev *cd, enum cow_file_id id,
			    int flags)
{
	struct block_device *bdev = cow_backing_bdev(cd->file[id]);
	struct file *file;

	if (!cow_direct_io)
		return;
	if (!bdev || bdev_logical_block_size(bdev) > SECTOR_SIZE)
		return;
	file = filp_open(cd->path[id], flags | O_DIRECT | O_LARGEFILE, 0);
	if (IS_ERR(file))
		return;
	if (file_inode(file) != file_inode(cd->file[id])) {
		filp_close(file, NULL);		/* renamed meanwhile */
		return;
	}
	cd->dio[id] = file;
	if (id == COW_COW)
		cd->dio_align = max_t(unsigned int, PAGE_SIZE,
				      i_blocksize(file_inode(file)));
}

/*
 * Is @inode the file @id of an active cowdevice?  A cowfile must be
 * neither the cowfile nor the rdofile of another; an rdofile must not be
 * the cowfile of another (it would change under this one).
 */
static bool cow_file_in_use(struct cow_dev *cd, enum cow_file_id mine,
			    enum cow_file_id id)
{
	struct cow_dev *other;
	unsigned long i;

	lockdep_assert_held(&cow_ctl_mutex);
	if (!cd->file[mine])
		return false;		/* standalone: no rdofile */
	xa_for_each(&cow_devs, i, other)
		if (other != cd && other->claimed && other->file[id] &&
		    file_inode(other->file[id]) == file_inode(cd->file[mine]))
			return true;
	return false;
}

/* Opening file @id failed with @err: the activation's message names it. */
static int cow_open_failed(struct cow_dev *cd, enum cow_file_id id, int err)
{
	cd->err_file = cow_file_names[id];
	return err;
}

static int cow_open_rdofile(struct cow_dev *cd)
{
	const char *path = cd->path[COW_RDO];
	struct file *file;
	umode_t type;
	int ret;

	ret = cow_path_type(path, &type);
	if (!ret && !type)
		ret = -ENOENT;
	if (ret)
		return cow_open_failed(cd, COW_RDO, ret);
	if (type != S_IFREG && type != S_IFBLK)
		return cow_refuse(cd, COW_E_RDOTYPE);
	file = filp_open(path, O_RDONLY | O_LARGEFILE, 0);
	if (IS_ERR(file))
		return cow_open_failed(cd, COW_RDO, PTR_ERR(file));
	cd->file[COW_RDO] = file;
	if (S_ISBLK(file_inode(file)->i_mode) &&
	    I_BDEV(file->f_mapping->host)->bd_disk->fops == &cow_fops)
		return cow_refuse(cd, COW_E_STACK);
	if (!S_ISREG(file_inode(file)->i_mode) &&
	    !S_ISBLK(file_inode(file)->i_mode))
		return cow_refuse(cd, COW_E_RDOTYPE);
	if (cow_file_size(file) < COW_MAPUNIT)
		return cow_refuse(cd, COW_E_RDOSMALL);
	/* copy-on-read copies what was just read: from the page cache */
	if (!cd->copyread)
		cow_open_direct(cd, COW_RDO, O_RDONLY);
	return 0;
}

static int cow_open_cowfile(struct cow_dev *cd)
{
	const char *path = cd->path[COW_COW];
	struct address_space *mapping;
	struct file *file;
	struct inode *inode;
	umode_t type;
	int ret;

	/* Never open (with side effects) what cannot be a cowfile. */
	ret = cow_path_type(path, &type);
	if (ret)
		return cow_open_failed(cd, COW_COW, ret);
	if (type && type != S_IFREG)
		return cow_refuse(cd, COW_E_COWTYPE);
	if (!type && cd->readonly)
		return cow_refuse(cd, COW_E_NOCOWFILE);
	file = filp_open(path, cd->readonly ? O_RDONLY | O_LARGEFILE :
			 O_RDWR | O_CREAT | O_LARGEFILE, 0600);
	if (IS_ERR(file))
		return cow_open_failed(cd, COW_COW, PTR_ERR(file));
	cd->file[COW_COW] = file;
	inode = file_inode(file);
	if (!S_ISREG(inode->i_mode))
		return cow_refuse(cd, COW_E_COWTYPE);
	if (cd->file[COW_RDO] && inode == file_inode(cd->file[COW_RDO]))
		return cow_refuse(cd, COW_E_SAMEFILE);

	/* Page cache allocations for it must not recurse into us (as loop) */
	mapping = file->f_mapping;
	cd->wb_since = filemap_sample_wb_err(mapping);
	cd->old_gfp_mask = mapping_gfp_mask(mapping);
	mapping_set_gfp_mask(mapping,
			     cd->old_gfp_mask & ~(__GFP_IO | __GFP_FS));
	cow_open_direct(cd, COW_COW, cd->readonly ? O_RDONLY : O_RDWR);
	return 0;
}

static void cow_close_files(struct cow_dev *cd)
{
	struct file *cow = cd->file[COW_COW];
	int id;

	if (cow && cd->old_gfp_mask)
		mapping_set_gfp_mask(cow->f_mapping, cd->old_gfp_mask);
	for (id = 0; id < COW_NR_FILES; id++) {
		if (cd->dio[id])
			filp_close(cd->dio[id], NULL);
		if (cd->file[id])
			filp_close(cd->file[id], NULL);
	}
}

/* The fingerprint of the rdofile; holes are zeroes and are skipped. */
static int cow_rdo_fingerprint(struct cow_dev *cd, u64 rdoblocks, u32 *fp)
{
	struct file *rdo = cd->file[COW_RDO];
	loff_t end = rdoblocks << COW_MAPUNIT_SHIFT, pos = 0, data;
	size_t chunk = COW_FLUSH_BATCH * PAGE_SIZE, len, i;
	struct cow_fp acc;
	int ret;

	cow_fp_init(&acc);
	while (pos < end && !cow_fp_done(&acc)) {
		data = vfs_llseek(rdo, pos, SEEK_DATA);
		if (data == -ENXIO)
			break;
		if (data > pos)
			pos = round_down(data, COW_MAPUNIT);
		if (pos >= end)
			break;
		len = min_t(loff_t, chunk, end - pos);
		ret = cow_file_rw(cd, COW_RDO, false, cd->flush_buf, len, pos);
		if (ret)
			return ret;
		for (i = 0; i < len && !cow_fp_done(&acc); i += COW_MAPUNIT)
			cow_fp_add(&acc, cd->flush_buf + i);
		pos += len;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	*fp = acc.value;
	return 0;
}

/* A new cowfile: its header; it is written by cow_commit(). */
static int cow_create_header(struct cow_dev *cd, u64 rdosize)
{
	u32 fp;
	int ret;

	ret = cow_rdo_fingerprint(cd, cow_rdoblocks(rdosize), &fp);
	if (ret)
		return ret;
	cow_hdr_init(&cd->hdr, rdosize, fp);
	cd->created = true;
	return 0;
}

/* An existing cowfile: its header must fit the rdofile. */
static int cow_check_header(struct cow_dev *cd, u64 rdosize, bool repair)
{
	struct cow_hdr *h = &cd->hdr;
	loff_t size = cow_file_size(cd->file[COW_COW]);
	u32 fp;
	int ret;

	if (size < COW_HDRSIZE)
		return cow_refuse(cd, COW_E_SHORT);
	ret = cow_file_rw(cd, COW_COW, false, cd->hdr_buf, COW_HDRSIZE, 0);
	if (ret)
		return ret;
	cd->orig_hdr = kmemdup(cd->hdr_buf, COW_HDRSIZE, GFP_KERNEL);
	if (!cd->orig_hdr)
		return -ENOMEM;
	ret = cow_hdr_decode(h, cd->hdr_buf);
	if (ret)
		return cow_refuse(cd, ret);
	if (size < COW_HDRSIZE + h->mapsize)
		return cow_refuse(cd, COW_E_SHORT);
	ret = cow_hdr_check_state(h);
	if (ret && !(ret == COW_E_DIRTY && repair))
		return cow_refuse(cd, ret);
	if (cd->standalone)
		return 0;	/* nothing of the rdofile is read: whole */
	ret = cow_rdo_fingerprint(cd, h->rdoblocks, &fp);
	if (ret)
		return ret;
	ret = cow_hdr_check_rdo(h, rdosize, fp);
	return ret ? cow_refuse(cd, ret) : 0;
}

/*
 * How large a new file beside the cowfile may grow, if less than @need:
 * asked of an unnamed file in its directory (O_TMPFILE), made that long,
 * which a file system with sparse files does without writing.  ext4
 * serving an ext2 file system limits a file without extents (indirect
 * blocks: 16 GiB with 1 KiB blocks) below its s_maxbytes.  Where the
 * question cannot be asked (no O_TMPFILE: vfat, NFS...), @need:
 * s_maxbytes has answered.
 */
static loff_t cow_file_limit(struct cow_dev *cd, loff_t need)
{
	loff_t lo = 0, hi = need, mid;
	struct file *tmp;
	char *dir, *slash;
	int ret;

	dir = kstrdup(cd->path[COW_COW], GFP_KERNEL);
	if (!dir)
		return need;
	slash = strrchr(dir, '/');
	slash[slash == dir] = '\0';		/* "/c.cow": "/" */
	tmp = filp_open(dir, O_TMPFILE | O_RDWR | O_LARGEFILE, 0600);
	kfree(dir);
	if (IS_ERR(tmp))
		return need;
	ret = vfs_truncate(&tmp->f_path, need);
	if (ret == -EFBIG) {
		/* the largest size it takes, to the page */
		while (hi - lo > PAGE_SIZE) {
			mid = round_down(lo + (hi - lo) / 2, PAGE_SIZE);
			if (vfs_truncate(&tmp->f_path, mid))
				hi = mid;
			else
				lo = mid;
		}
		need = lo;
	}
	filp_close(tmp, NULL);
	return need;
}

/*
 * The cowfile will grow up to cow_cowsize() bytes (and its modified map
 * after, with copied units): its file system must
 * take a file that large (vfat: 4 GiB, ext2 with 1 KiB blocks: 16 GiB,
 * ext4: 16 TiB), or writes past its limit would fail later with EIO.
 * A read-only activation never grows it.
 */
static int cow_check_fslimit(struct cow_dev *cd, u64 rdoblocks)
{
	loff_t max = file_inode(cd->file[COW_COW])->i_sb->s_maxbytes;
	u64 need = cow_cowsize(rdoblocks);

	/* and the modified map, after the data area */
	if (cd->copyread || cd->filling ||
	    (cd->hdr.ext_flags & COW_EXT_MODMAP))
		need = cow_modmap_off(rdoblocks) + cow_mapsize(rdoblocks);

	if (cd->readonly)
		return 0;
	if (need <= max)
		max = cow_file_limit(cd, need);
	if (need <= max)
		return 0;
	pr_err("cowfile %s: its file system holds files up to %lld bytes (%lld MiB); this rdofile needs a cowfile of %llu bytes (%llu MiB)\n",
	       cd->path[COW_COW], max, max >> 20, need, need >> 20);
	cd->detail = max;
	return cow_refuse(cd, COW_E_FSLIMIT);
}

/* Open both files. */
static noinline int cow_open_files(struct cow_dev *cd)
{
	int ret = 0;

	/* standalone: the rdofile is not even looked at (its server gone) */
	if (!cd->standalone)
		ret = cow_open_rdofile(cd);
	if (!ret)
		ret = cow_open_cowfile(cd);
	return ret;
}
ALLOW_ERROR_INJECTION(cow_open_files, ERRNO);

/*
 * Bring the cowfile's header and bitmap into memory, or make a new
 * header.  Nothing is written.
 */
static noinline int cow_load(struct cow_dev *cd, bool repair)
{
	u64 rdosize = cd->standalone ? 0 : cow_file_size(cd->file[COW_RDO]);
	int ret;

	if (cow_rdoblocks(rdosize) > COW_MAX_RDOBLOCKS)
		return cow_refuse(cd, COW_E_RDOBIG);
	if (cow_file_size(cd->file[COW_COW]) == 0) {
		if (cd->readonly || cd->standalone)
			return cow_refuse(cd, COW_E_NOCOWFILE);
		ret = cow_check_fslimit(cd, cow_rdoblocks(rdosize));
		if (!ret)
			ret = cow_create_header(cd, rdosize);
	} else {
		ret = cow_check_header(cd, rdosize, repair);
		if (!ret)
			ret = cow_check_fslimit(cd, cd->hdr.rdoblocks);
		if (!ret)
			ret = cow_bm_load(cd, repair);
	}
	if (ret)
		return ret;
	/* standalone: every unit is in the cowfile, the rdofile never read */
	if (cd->standalone) {
		if (atomic64_read(&cd->cowused) != cd->hdr.rdoblocks)
			return cow_refuse(cd, COW_E_NOTFULL);
		rdosize = cd->hdr.rdosize ?: cd->hdr.rdoblocks << COW_MAPUNIT_SHIFT;
	}
	/*
	 * The modified map is made when units start being copied, and
	 * made again by a repair: a crash may have left it behind.
	 */
	if ((cd->copyread || cd->filling) && !cow_mm_on(cd))
		cd->mm_build = true;
	if (cow_mm_on(cd) && repair && (cd->hdr.flags & COW_F_DIRTY))
		cd->mm_build = true;
	/* From now on bitmap writes are ordered: cow_commit() says so. */
	cd->hdr.ext_flags |= COW_EXT_ORDERED;
	cd->hdr.rdosize = rdosize;
	return 0;
}
ALLOW_ERROR_INJECTION(cow_load, ERRNO);

/*
 * Can the cowfile's file system punch holes (discard)?  Asked of a range
 * past the end of everything the cowfile can hold, where there is
 * nothing to lose: without KEEP_SIZE's effect on the size, it changes
 * nothing there.  The range must stay below the file system's largest
 * file size (ext4 refuses beyond it with EFBIG): a cowfile that ends in
 * the last block the file system allows leaves no room to ask.
 */
static bool cow_probe_punch(struct cow_dev *cd)
{
	struct file *cow = cd->file[COW_COW];
	loff_t max = file_inode(cow)->i_sb->s_maxbytes;
	loff_t pos = round_up(max_t(loff_t, cow_file_size(cow),
				    cow_cowsize(cd->hdr.rdoblocks)),
			      COW_DATA_ALIGN);

	if (pos > max - COW_DATA_ALIGN) {
		pr_info("cow%d: cowfile %s ends at its file system's size limit: discard not offered\n",
			cd->devno, cd->path[COW_COW]);
		return false;
	}
	return !vfs_fallocate(cow, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      pos, COW_DATA_ALIGN);
}

/*
 * The activation's writes to the cowfile: a new one gets its size, the
 * header is marked in use (DIRTY, ORDERED) and bits found by a repair
 * are flushed.  Undone by cow_restore() if the activation fails after.
 * A read-only activation writes nothing.
 */
static noinline int cow_commit(struct cow_dev *cd)
{
	int ret = 0;

	if (cd->readonly)
		return 0;
	cd->committed = true;
	if (cd->created)
		ret = vfs_truncate(&cd->file[COW_COW]->f_path,
				   COW_HDRSIZE + cd->hdr.mapsize);
	if (!ret) {
		mutex_lock(&cd->meta_mutex);
		ret = cow_hdr_mark_dirty(cd);
		mutex_unlock(&cd->meta_mutex);
	}
	if (!ret)
		ret = cow_bm_flush(cd);
	if (!ret && cd->mm_build) {
		ret = cow_mm_build(cd);
		mutex_lock(&cd->meta_mutex);
		if (!ret)
			ret = cow_hdr_store(cd, cd->hdr.flags | COW_F_DIRTY,
					    atomic64_read(&cd->cowused));
		mutex_unlock(&cd->meta_mutex);
	}
	if (!ret)
		ret = cow_fill_init(cd);
	if (!ret)
		cd->can_punch = cow_probe_punch(cd);
	return ret;
}
ALLOW_ERROR_INJECTION(cow_commit, ERRNO);

/*
 * A failed activation leaves the cowfile as it found it: a new one
 * empty again (still "a new cowfile"), an existing one with the header
 * it had.  Bitmap blocks a repair wrote stay: they only describe data
 * that is there, and the header still says whether to trust them.
 */
static void cow_restore(struct cow_dev *cd)
{
	struct file *cow = cd->file[COW_COW];
	int ret;

	if (!cd->committed)
		return;
	if (cd->created) {
		ret = vfs_truncate(&cow->f_path, 0);
	} else {
		ret = cow_file_rw(cd, COW_COW, true, cd->orig_hdr,
				  COW_HDRSIZE, 0);
		if (!ret)
			ret = vfs_fsync(cow, 1);
	}
	if (ret)
		pr_err("cowfile %s: could not restore it after the failed activation (error %d): %s\n",
		       cd->path[COW_COW], ret,
		       cd->created ? "its header is not valid, delete it" :
		       "it may be marked dirty, run cowrepair");
}

/* ---------------------------------------------------------------- */
/* device lifetime                                                  */
/* ---------------------------------------------------------------- */

static void cow_dev_free(struct cow_dev *cd)
{
	cow_bm_free(cd);
	cow_io_dev_exit(cd);
	kvfree(cd->flush_buf);
	kvfree(cd->fill_buf);
	kfree(cd->unit_buf);
	kfree(cd->hdr_buf);
	kfree(cd->orig_hdr);
	kfree(cd->path[COW_RDO]);
	kfree(cd->path[COW_COW]);
	kfree(cd);
}

static noinline struct cow_dev *cow_dev_alloc(const char *rdofile,
					      const char *cowfile)
{
	struct cow_dev *cd = kzalloc(sizeof(*cd), GFP_KERNEL);

	if (!cd)
		return NULL;
	cd->devno = -1;
	spin_lock_init(&cd->lock);
	init_rwsem(&cd->hold);
	init_waitqueue_head(&cd->wq);
	init_waitqueue_head(&cd->drain_wq);
	bio_list_init(&cd->bios);
	bio_list_init(&cd->fua_bios);
	INIT_LIST_HEAD(&cd->dio_writes);
	mutex_init(&cd->meta_mutex);
	xa_init_flags(&cd->bitmap, XA_FLAGS_LOCK_IRQ);
	cd->path[COW_RDO] = kstrdup(rdofile, GFP_KERNEL);
	cd->path[COW_COW] = kstrdup(cowfile, GFP_KERNEL);
	cd->flush_buf = kvmalloc(COW_FLUSH_BATCH * PAGE_SIZE, GFP_KERNEL);
	cd->unit_buf = kmalloc(COW_MAPUNIT, GFP_KERNEL);
	cd->hdr_buf = kmalloc(COW_HDRSIZE, GFP_KERNEL);
	if (!cd->path[COW_RDO] || !cd->path[COW_COW] || !cd->flush_buf ||
	    !cd->unit_buf || !cd->hdr_buf || cow_io_dev_init(cd) ||
	    cow_bm_dev_init(cd)) {
		cow_dev_free(cd);
		return NULL;
	}
	return cd;
}
ALLOW_ERROR_INJECTION(cow_dev_alloc, NULL);

/* Rotational, as loop says it, when a disk below either file is. */
static bool cow_rotational(struct cow_dev *cd)
{
	struct block_device *bdev;
	int id;

	for (id = 0; id < COW_NR_FILES; id++) {
		if (!cd->file[id])
			continue;
		bdev = cow_backing_bdev(cd->file[id]);
		if (bdev && bdev_rot(bdev))
			return true;
	}
	return false;
}

static noinline int cow_add_disk(struct cow_dev *cd)
{
	struct cow_limits lim = {
		.lbs = SECTOR_SIZE,
		.pbs = PAGE_SIZE,
		.max_sectors = COW_MAX_HW_SECTORS,
		.rotational = cow_rotational(cd),
	};
	struct gendisk *disk;
	int ret;

	if (!cd->readonly) {
		lim.write_zeroes_sectors = COW_MAX_ZERO_SECTORS;
		if (cd->can_punch)
			lim.discard_sectors = COW_MAX_ZERO_SECTORS;
	}
	disk = cow_alloc_disk(&lim);
	if (IS_ERR(disk))
		return PTR_ERR(disk);
	disk->major = cow_major;
	disk->first_minor = cd->devno;
	disk->minors = 1;
	/*
	 * No partition scan of its own, as loop without -P: partitions if
	 * asked for, once active (cow_scan_partitions); partx may still
	 * add some (BLKPG), as on loop.
	 */
	set_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	disk->fops = &cow_fops;
	disk->private_data = cd;
	snprintf(disk->disk_name, DISK_NAME_LEN, "cow%d", cd->devno);
	set_capacity(disk, cd->hdr.rdoblocks * COW_SECTORS_PER_UNIT);
	set_disk_ro(disk, cd->readonly);
	cd->disk = disk;

	cd->thread = kthread_run(cow_thread, cd, "cow%d", cd->devno);
	if (IS_ERR(cd->thread)) {
		ret = PTR_ERR(cd->thread);
		goto out_put;
	}
	ret = cow_bm_shrinker_add(cd);
	if (ret)
		goto out_stop;
	ret = device_add_disk(NULL, disk, cow_attr_groups);
	if (ret)
		goto out_stop;
	return 0;
out_stop:
	cow_bm_shrinker_del(cd);
	kthread_stop(cd->thread);
out_put:
	put_disk(disk);
	cd->disk = NULL;
	return ret;
}
ALLOW_ERROR_INJECTION(cow_add_disk, ERRNO);

/*
 * Partitions, as loop's -P: the first scan happens once the device is
 * active (opens are refused before); later ones by BLKRRPART.  They get
 * numbers of the kernel's extended range (major 259), so that /dev/cow/N
 * keeps its number.  A table that cannot be read is not an error.
 */
static void cow_scan_partitions(struct cow_dev *cd)
{
	struct gendisk *disk = cd->disk;
	int ret;

	clear_bit(GD_SUPPRESS_PART_SCAN, &disk->state);
	mutex_lock(&disk->open_mutex);
	ret = bdev_disk_changed(disk, false);
	mutex_unlock(&disk->open_mutex);
	if (ret)
		pr_warn("cow%d: partition scan failed (%d)\n", cd->devno, ret);
}

/* Final flush, clean header, release everything. */
static void cow_dev_destroy(struct cow_dev *cd)
{
	int ret;

	cow_status_remove(cd);
	del_gendisk(cd->disk);
	cow_bm_shrinker_del(cd);
	kthread_stop(cd->thread);	/* returns when all I/O has ended */
	ret = cow_bm_sync(cd, true);
	if (ret)
		pr_err("cow%d: cowfile %s: final write of header and bitmap failed (%d): left dirty, run cowrepair\n",
		       cd->devno, cd->path[COW_COW], ret);
	put_disk(cd->disk);
	pr_info("cow%d: deactivated (cowfile %s, %lld blocks in use)\n",
		cd->devno, cd->path[COW_COW], atomic64_read(&cd->cowused));
	cow_close_files(cd);
	cow_dev_free(cd);
}

static int cow_pick_devno(struct cow_dev *cd, struct cow_ioc_dev *req)
{
	unsigned int devno;

	if (req->devno != COW_DEV_ANY) {
		if (req->devno >= cow_maxcows)
			return cow_refuse(cd, COW_E_DEVRANGE);
		if (xa_load(&cow_devs, req->devno))
			return cow_refuse(cd, COW_E_DEVBUSY);
		return 0;
	}
	for (devno = 0; devno < cow_maxcows; devno++) {
		if (!xa_load(&cow_devs, devno)) {
			req->devno = devno;
			return 0;
		}
	}
	return cow_refuse(cd, COW_E_NOFREE);
}

/* Take a device number for @cd: it is in cow_devs, COW_SETUP. */
static int cow_claim_devno(struct cow_dev *cd, struct cow_ioc_dev *req)
{
	int ret;

	mutex_lock(&cow_ctl_mutex);
	ret = cow_pick_devno(cd, req);
	if (!ret) {
		cd->devno = req->devno;
		ret = xa_insert(&cow_devs, cd->devno, cd, GFP_KERNEL);
	}
	mutex_unlock(&cow_ctl_mutex);
	return ret;
}

/*
 * Take the files @cd has opened, unless another cowdevice, active or
 * being activated, uses them.
 */
static int cow_claim_files(struct cow_dev *cd)
{
	int ret = 0;

	mutex_lock(&cow_ctl_mutex);
	if (cow_file_in_use(cd, COW_RDO, COW_COW))
		ret = cow_refuse(cd, COW_E_RDOBUSY);
	else if (cow_file_in_use(cd, COW_COW, COW_COW))
		ret = cow_refuse(cd, COW_E_INUSE);
	else if (cow_file_in_use(cd, COW_COW, COW_RDO))
		ret = cow_refuse(cd, COW_E_COWBUSY);
	else
		cd->claimed = true;
	mutex_unlock(&cow_ctl_mutex);
	return ret;
}

static bool cow_path_ok(char *path)
{
	return path[0] == '/' && memchr(path, 0, COW_PATH_MAX);
}

/*
 * Returns 0 or a negative errno; req->reason says why in words.  The
 * device is left in COW_SETUP: added, but refusing opens, deactivation
 * and sync, until cow_publish() (or cow_abort()).
 */
static int cow_activate_dev(struct cow_ioc_dev *req, struct cow_dev **held)
{
	bool repair = req->flags & COW_ACT_REPAIR;
	struct cow_dev *cd;
	int ret;

	cd = cow_dev_alloc(req->rdofile, req->cowfile);
	if (!cd)
		return -ENOMEM;
	cd->readonly = req->flags & COW_ACT_READONLY;
	cd->partscan = req->flags & COW_ACT_PARTSCAN;
	/* a fill copies what is read first */
	cd->copyread = req->flags & (COW_ACT_COPYREAD | COW_ACT_FILL);
	cd->filling = req->flags & COW_ACT_FILL;
	cd->standalone = req->flags & COW_ACT_STANDALONE;
	ret = cow_claim_devno(cd, req);
	if (ret)
		goto out_close;
	ret = cow_open_files(cd);
	if (!ret)
		ret = cow_claim_files(cd);
	if (!ret)
		ret = cow_load(cd, repair);

	mutex_lock(&cow_ctl_mutex);
	if (!ret)
		ret = cow_commit(cd);
	if (!ret)
		ret = cow_add_disk(cd);
	if (ret) {
		/* restored while still claimed: no other activation meanwhile */
		cow_restore(cd);
		xa_erase(&cow_devs, cd->devno);
		mutex_unlock(&cow_ctl_mutex);
		goto out_close;
	}
	cow_status_add(cd);
	mutex_unlock(&cow_ctl_mutex);
	*held = cd;
	return 0;

out_close:
	if (!cd->reason && ret == -EIO)
		cd->reason = COW_E_IO;
	if (cd->reason)
		pr_err("cannot activate rdofile %s with cowfile %s: %s\n",
		       req->rdofile, req->cowfile, cow_strerror(cd->reason));
	else if (cd->err_file)
		pr_err("cannot activate rdofile %s with cowfile %s: cannot open the %s: %pe\n",
		       req->rdofile, req->cowfile, cd->err_file, ERR_PTR(ret));
	else
		pr_err("cannot activate rdofile %s with cowfile %s: %pe\n",
		       req->rdofile, req->cowfile, ERR_PTR(ret));
	req->reason = cd->reason;
	req->detail = cd->detail;
	cow_close_files(cd);
	cow_dev_free(cd);
	return ret;
}

/*
 * Activate the cowdevice @req asks for, up to the point of no return:
 * *held is the device, in COW_SETUP, which the caller then publishes
 * (cow_publish) or takes back (cow_abort), so that nothing it cannot
 * undo (an open, a deactivation by someone else) happens before it has
 * told its own caller.  Returns 0 or a negative errno; req->reason says
 * why in words.
 */
int cow_activate(struct cow_ioc_dev *req, struct cow_dev **held)
{
	if (req->flags & ~COW_ACT_KNOWN)
		return -EINVAL;
	if ((req->flags & COW_ACT_READONLY) && (req->flags & COW_ACT_REPAIR)) {
		req->reason = COW_E_ROREPAIR;
		return -EINVAL;
	}
	if ((req->flags & COW_ACT_READONLY) &&
	    (req->flags & (COW_ACT_COPYREAD | COW_ACT_FILL))) {
		req->reason = COW_E_ROCOPY;
		return -EINVAL;
	}
	/* standalone: nothing left to copy */
	if ((req->flags & COW_ACT_STANDALONE) &&
	    (req->flags & (COW_ACT_COPYREAD | COW_ACT_FILL)))
		return -EINVAL;
	if (!cow_path_ok(req->rdofile) || !cow_path_ok(req->cowfile)) {
		req->reason = COW_E_PATH;
		return -EINVAL;
	}
	return cow_activate_dev(req, held);
}

/*
 * The activated device @cd goes live: it takes opens, and udev, whose
 * probe at the "add" uevent found it refusing them, is told to look
 * again (a "change" uevent, as loop sends once configured).
 */
void cow_publish(struct cow_dev *cd)
{
	mutex_lock(&cow_ctl_mutex);
	kfree(cd->orig_hdr);
	cd->orig_hdr = NULL;
	spin_lock_irq(&cd->lock);
	cd->state = COW_ACTIVE;
	spin_unlock_irq(&cd->lock);
	pr_info("cow%d: activated%s: rdofile %s, cowfile %s (%llu blocks, %lld in use)\n",
		cd->devno, cd->readonly ? " read-only" : "",
		cd->path[COW_RDO], cd->path[COW_COW],
		cd->hdr.rdoblocks, atomic64_read(&cd->cowused));
	kobject_uevent(&disk_to_dev(cd->disk)->kobj, KOBJ_CHANGE);
	/* still under the lock: no deactivation while it scans */
	if (cd->partscan)
		cow_scan_partitions(cd);
	mutex_unlock(&cow_ctl_mutex);
}

/*
 * Take back the activation of @cd, never opened (COW_SETUP): the
 * cowfile is left as it was found, as after a failed activation.
 */
void cow_abort(struct cow_dev *cd)
{
	mutex_lock(&cow_ctl_mutex);
	cow_status_remove(cd);
	del_gendisk(cd->disk);
	cow_bm_shrinker_del(cd);
	kthread_stop(cd->thread);
	put_disk(cd->disk);
	cow_restore(cd);
	xa_erase(&cow_devs, cd->devno);
	mutex_unlock(&cow_ctl_mutex);
	pr_info("cow%d: activation taken back (rdofile %s, cowfile %s)\n",
		cd->devno, cd->path[COW_RDO], cd->path[COW_COW]);
	cow_close_files(cd);
	cow_dev_free(cd);
}

static int cow_deactivate_locked(unsigned int devno)
{
	struct cow_dev *cd = xa_load(&cow_devs, devno);

	if (!cd)
		return -ENXIO;
	spin_lock_irq(&cd->lock);
	if (cd->opens || cd->state != COW_ACTIVE) {
		spin_unlock_irq(&cd->lock);
		return -EBUSY;
	}
	cd->state = COW_RUNDOWN;
	spin_unlock_irq(&cd->lock);
	xa_erase(&cow_devs, devno);
	cow_dev_destroy(cd);
	return 0;
}

int cow_deactivate(unsigned int devno)
{
	int ret;

	mutex_lock(&cow_ctl_mutex);
	ret = cow_deactivate_locked(devno);
	mutex_unlock(&cow_ctl_mutex);
	return ret;
}

/* cowsync: header and bitmap of one or every cowdevice, clean. */
int cow_sync(unsigned int devno)
{
	struct cow_dev *cd;
	unsigned long i;
	int ret = 0, err;

	mutex_lock(&cow_ctl_mutex);
	cd = devno != COW_DEV_ANY ? xa_load(&cow_devs, devno) : NULL;
	if (devno != COW_DEV_ANY && (!cd || cd->state != COW_ACTIVE))
		ret = -ENXIO;
	xa_for_each(&cow_devs, i, cd) {
		if ((devno != COW_DEV_ANY && devno != i) ||
		    cd->state != COW_ACTIVE)
			continue;
		err = cow_bm_sync(cd, true);
		if (err) {
			pr_err("cow%d: cowfile %s: sync failed (%d)\n",
			       cd->devno, cd->path[COW_COW], err);
			ret = ret ?: err;
		}
	}
	mutex_unlock(&cow_ctl_mutex);
	return ret;
}

/*
 * The active device @devno, kept from being deactivated (as an open
 * would) until cow_dev_put(); NULL when there is none.
 */
struct cow_dev *cow_dev_get(unsigned int devno)
{
	struct cow_dev *cd;
	bool active = false;

	mutex_lock(&cow_ctl_mutex);
	cd = xa_load(&cow_devs, devno);
	if (cd) {
		spin_lock_irq(&cd->lock);
		active = cd->state == COW_ACTIVE;
		if (active)
			cd->opens++;
		spin_unlock_irq(&cd->lock);
	}
	mutex_unlock(&cow_ctl_mutex);
	return active ? cd : NULL;
}

void cow_dev_put(struct cow_dev *cd)
{
	spin_lock_irq(&cd->lock);
	cd->opens--;
	spin_unlock_irq(&cd->lock);
}

void cow_deactivate_all(void)
{
	struct cow_dev *cd;
	unsigned long i;

	mutex_lock(&cow_ctl_mutex);
	xa_for_each(&cow_devs, i, cd)
		cow_deactivate_locked(i);
	mutex_unlock(&cow_ctl_mutex);
}

int cow_dev_init(void)
{
	cow_major = register_blkdev(0, KBUILD_MODNAME);
	if (cow_major < 0)
		return cow_major;
	cow_status_init();
	return 0;
}

void cow_dev_exit(void)
{
	cow_status_exit();
	unregister_blkdev(cow_major, KBUILD_MODNAME);
}
