/* kdump-format.h - on-disk layout of kdump-compressed files and of
 * makedumpfile's flattened stream (docs/formats.md §1), named once for the
 * reader (vmcore/kdump.c, flat.c) and the writers (capture/kdump-writer.c,
 * sink.c).  Offsets are in bytes from the start of their structure; all
 * integers are little-endian except the flattened stream's, which are
 * big-endian.  Constants only: no types, nothing to link.
 */
#ifndef SALVAGE_VMCORE_KDUMP_FORMAT_H
#define SALVAGE_VMCORE_KDUMP_FORMAT_H

/* disk_dump_header, block 0 (§1.2) */
#define KDUMP_SIGNATURE       "KDUMP   "   /* 8 bytes, no NUL */
#define KDUMP_SIG_LEN         8
#define KDUMP_HDR_VERSION     8      /* int header_version */
#define KDUMP_HDR_UTSNAME     12     /* 6 x char[65] */
#define KDUMP_UTS_LEN         65
#define KDUMP_UTS_FIELDS      6
#define KDUMP_HDR_TIMESTAMP   408    /* struct timeval: tv_sec, tv_usec (i64) */
#define KDUMP_HDR_STATUS      424    /* u32, KDUMP_DH_* */
#define KDUMP_HDR_BLOCK_SIZE  428    /* int, the page size */
#define KDUMP_HDR_SUB_HDR_SIZE 432   /* int, blocks (sub header + note copy) */
#define KDUMP_HDR_BITMAP_BLOCKS 436  /* u32, both bitmaps */
#define KDUMP_HDR_MAX_MAPNR   440    /* u32, capped; max_mapnr_64 from version 6 */
#define KDUMP_HDR_NR_CPUS     460    /* int */
#define KDUMP_HDR_SIZE        464
#define KDUMP_VERSION_MAX     6      /* the newest version; what the writer writes */

/* disk_dump_header of 32-bit writers (i386, 32-bit ARM; §1.12): struct
 * timeval is two 4-byte longs at 404, so everything after it moves up */
#define KDUMP32_HDR_TIMESTAMP   404  /* i32 tv_sec, i32 tv_usec */
#define KDUMP32_HDR_STATUS      412
#define KDUMP32_HDR_BLOCK_SIZE  416
#define KDUMP32_HDR_SUB_HDR_SIZE 420
#define KDUMP32_HDR_BITMAP_BLOCKS 424
#define KDUMP32_HDR_MAX_MAPNR   428
#define KDUMP32_HDR_NR_CPUS     448

/* status flags (§1.4); the codec bits double as page_desc flags */
#define KDUMP_DH_COMPRESSED_ZLIB       0x01u
#define KDUMP_DH_COMPRESSED_LZO        0x02u
#define KDUMP_DH_COMPRESSED_SNAPPY     0x04u
#define KDUMP_DH_COMPRESSED_INCOMPLETE 0x08u  /* status only: cut short */
#define KDUMP_DH_EXCLUDED_VMEMMAP      0x10u  /* status only */
#define KDUMP_DH_COMPRESSED_ZSTD       0x20u
#define KDUMP_DH_CODECS (KDUMP_DH_COMPRESSED_ZLIB | KDUMP_DH_COMPRESSED_LZO | \
			 KDUMP_DH_COMPRESSED_SNAPPY | KDUMP_DH_COMPRESSED_ZSTD)

/* kdump_sub_header, block 1 (§1.5); the version that added a field in () */
#define KDUMP_SUB_PHYS_BASE     0    /* u64 (1) */
#define KDUMP_SUB_DUMP_LEVEL    8    /* int (1) */
#define KDUMP_SUB_SPLIT         12   /* int (2) */
#define KDUMP_SUB_START_PFN     16   /* ulong (2), split parts: first frame */
#define KDUMP_SUB_END_PFN       24   /* ulong (2), one past the last */
#define KDUMP_SUB_OFF_VMCOREINFO 32  /* u64 (3): points into the note copy */
#define KDUMP_SUB_SIZE_VMCOREINFO 40 /* u64 (3) */
#define KDUMP_SUB_OFF_NOTE      48   /* u64 (4) */
#define KDUMP_SUB_SIZE_NOTE     56   /* u64 (4) */
#define KDUMP_SUB_START_PFN_64  80   /* u64 (6) */
#define KDUMP_SUB_END_PFN_64    88   /* u64 (6) */
#define KDUMP_SUB_MAX_MAPNR_64  96   /* u64 (6) */
#define KDUMP_SUB_SIZE          104  /* the note copy follows it */

/* kdump_sub_header of 32-bit writers (§1.12): unsigned long is 4 bytes;
 * i386 packs the 8-byte fields at 4-byte alignment, ARM aligns them to 8. */
#define KDUMP_SUB32I_OFF_VMCOREINFO 20
#define KDUMP_SUB32I_SIZE_VMCOREINFO 28  /* u32 */
#define KDUMP_SUB32I_OFF_NOTE    32
#define KDUMP_SUB32I_SIZE_NOTE   40      /* u32 */
#define KDUMP_SUB32I_MAX_MAPNR_64 72
#define KDUMP_SUB32I_SIZE        80
#define KDUMP_SUB32A_OFF_VMCOREINFO 24
#define KDUMP_SUB32A_SIZE_VMCOREINFO 32  /* u32 */
#define KDUMP_SUB32A_OFF_NOTE    40
#define KDUMP_SUB32A_SIZE_NOTE   48      /* u32 */
#define KDUMP_SUB32A_MAX_MAPNR_64 88
#define KDUMP_SUB32A_SIZE        96
/* phys_base (u32) at 0, dump_level at 4 and split at 8 in both */
#define KDUMP_SUB32_DUMP_LEVEL   4
#define KDUMP_SUB32_SPLIT        8

/* Bytes of the sub header a given header version defines (§1.3). */
#define KDUMP_SUB_SIZE_V(v) ((v) >= 6 ? 104 : (v) >= 5 ? 80 : (v) >= 4 ? 64 : \
			     (v) >= 3 ? 48 : (v) >= 2 ? 32 : 12)

/* page_desc, after the bitmaps (§1.7) */
#define KDUMP_PD_OFFSET         0    /* u64, file offset of the data */
#define KDUMP_PD_SIZE           8    /* u32, stored bytes */
#define KDUMP_PD_FLAGS          12   /* u32, one KDUMP_DH_COMPRESSED_* codec bit or 0 */
#define KDUMP_PD_PAGE_FLAGS     16   /* u64 */
#define KDUMP_PD_LEN            24

/* flattened stream (§1.14): a header block, then records of a big-endian
 * (target offset, length) pair and the data; -1, -1 ends the stream */
#define FLAT_SIGNATURE          "makedumpfile"  /* 12 bytes, NUL padded to 16 */
#define FLAT_HDR_TYPE           16   /* be64, FLAT_TYPE_HEADER */
#define FLAT_HDR_VERSION        24   /* be64, FLAT_VERSION */
#define FLAT_TYPE_HEADER        1
#define FLAT_VERSION            1
#define FLAT_HDR_SIZE           4096
#define FLAT_REC_HDR            16

#endif
