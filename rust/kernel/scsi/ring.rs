// SPDX-License-Identifier: GPL-2.0

//! Index arithmetic for completion rings, and the context tags that tie a hardware completion
//! to one submission of a command.
//!
//! C counterparts: the reply-queue loops of HBA drivers, such as `megasas_complete_cmd_dpc()` in
//! [`drivers/scsi/megaraid/megaraid_sas_base.c`](srctree/drivers/scsi/megaraid/megaraid_sas_base.c),
//! and `blk_mq_unique_tag()` in [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h).
//!
//! A device that reports completions in a ring writes entries and moves a producer index; the
//! driver reads from its consumer index up to the producer, wrapping at the ring's size, then
//! publishes the new consumer. A producer outside the ring is nonsense from the device, and
//! [`Ring::pending`] refuses it rather than reading out of bounds.
//!
//! A [`ContextTag`] is what a driver gives the device to identify a command: the block layer's
//! tag plus a sequence number that changes with every submission of that tag. A completion
//! that arrives after the command was aborted or reset, and its tag reused, carries an old
//! sequence number and is ignored.
//!
//! This file needs only `core` and is tested on the host (`tools/hosttest`) and in the kernel
//! (KUnit suite `rust_scsi_ring`).

/// A ring of `size` entries, `size` at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    size: u32,
}

/// The device reported an index outside its ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadIndex(pub u32);

impl Ring {
    /// A ring of `size` entries; `None` for a size of zero.
    #[inline]
    pub const fn new(size: u32) -> Option<Self> {
        if size == 0 {
            None
        } else {
            Some(Self { size })
        }
    }

    /// Entries in the ring.
    #[inline]
    pub const fn size(&self) -> u32 {
        self.size
    }

    /// The index after `i`.
    #[inline]
    pub const fn next(&self, i: u32) -> u32 {
        if i + 1 >= self.size {
            0
        } else {
            i + 1
        }
    }

    /// The entries from `consumer` (inclusive) to `producer` (exclusive), in order.
    ///
    /// # Errors
    ///
    /// [`BadIndex`] if either index is outside the ring.
    #[inline]
    pub fn pending(&self, consumer: u32, producer: u32) -> Result<Pending, BadIndex> {
        if consumer >= self.size {
            return Err(BadIndex(consumer));
        }
        if producer >= self.size {
            return Err(BadIndex(producer));
        }
        Ok(Pending {
            ring: *self,
            at: consumer,
            end: producer,
        })
    }

    /// How many entries lie between `consumer` and `producer`.
    #[inline]
    pub const fn distance(&self, consumer: u32, producer: u32) -> u32 {
        if producer >= consumer {
            producer - consumer
        } else {
            self.size - consumer + producer
        }
    }
}

/// Iterator over pending ring indices; see [`Ring::pending`]. When it is exhausted, [`Pending::at`]
/// is the new consumer index.
#[derive(Clone, Debug)]
pub struct Pending {
    ring: Ring,
    at: u32,
    end: u32,
}

impl Pending {
    /// The index the iterator has reached: after the loop, the consumer index to publish.
    #[inline]
    pub const fn at(&self) -> u32 {
        self.at
    }
}

impl Iterator for Pending {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.at == self.end {
            return None;
        }
        let i = self.at;
        self.at = self.ring.next(i);
        Some(i)
    }
}

/// A command's identity as given to the device: tag in bits 15:0, sequence in bits 31:16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextTag {
    /// The command's index (`Command::index`: its tag, made unique over the host's hardware
    /// queues).
    pub tag: u16,
    /// Sequence number of this submission of the tag.
    pub seq: u16,
}

impl ContextTag {
    /// The 32-bit value a device echoes back.
    #[inline]
    pub const fn to_u32(self) -> u32 {
        // CAST: widening `u16` to `u32`.
        (self.seq as u32) << 16 | self.tag as u32
    }

    /// Decodes a value a device returned.
    #[inline]
    pub const fn from_u32(v: u32) -> Self {
        // CAST: each half of a `u32` fits in a `u16`.
        Self {
            tag: (v & 0xffff) as u16,
            seq: (v >> 16) as u16,
        }
    }
}

/// Who holds a command index (a slot of the host's in-flight table): nobody, a `Command` of
/// the driver, or the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No command holds the index.
    Idle = 0,
    /// A `Command` exists for the index's command.
    Driver = 1,
    /// The device holds the index's command, under the generation of the state.
    Hardware = 2,
    /// The index's last command was ended while the device may still hold its submission (a
    /// reserved command that timed out): no command may use the index, nor its slots, until
    /// the device gives that submission back (its completion, under the state's generation) or
    /// forgets it (a reset).
    Abandoned = 3,
}

/// The state of a command index: its phase and the generation of its last submission to the
/// device, packed in one 32-bit word so that one compare-and-exchange both checks a
/// completion's context and takes the command back.
///
/// The generation belongs to the index, not to the request that holds it: every submission
/// on the index, by whichever request, gets the next one. A completion reported late, for an
/// earlier submission on the index, carries an earlier generation and matches nothing until
/// the index has been submitted 65536 more times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexState {
    /// Generation of the last submission.
    pub gen: u16,
    /// Who holds the index.
    pub phase: Phase,
}

impl IndexState {
    /// A fresh index: idle, generation 0.
    pub const IDLE: Self = Self {
        gen: 0,
        phase: Phase::Idle,
    };

    /// The state word: generation in bits 31:16, phase in bits 15:0.
    #[inline]
    pub const fn pack(self) -> u32 {
        // CAST: widening `u16` and a small discriminant to `u32`.
        (self.gen as u32) << 16 | self.phase as u32
    }

    /// Decodes a state word; `None` for a phase that is none of the four.
    #[inline]
    pub const fn unpack(v: u32) -> Option<Self> {
        let phase = match v & 0xffff {
            0 => Phase::Idle,
            1 => Phase::Driver,
            2 => Phase::Hardware,
            3 => Phase::Abandoned,
            _ => return None,
        };
        // CAST: the upper half of a `u32` fits in a `u16`.
        Some(Self {
            gen: (v >> 16) as u16,
            phase,
        })
    }

    /// The same generation in another phase.
    #[inline]
    pub const fn with(self, phase: Phase) -> Self {
        Self {
            gen: self.gen,
            phase,
        }
    }

    /// The state after the next submission to the device: the next generation, wrapping.
    #[inline]
    pub const fn submitted(self) -> Self {
        Self {
            gen: self.gen.wrapping_add(1),
            phase: Phase::Hardware,
        }
    }

    /// The context a device is given for this state's submission of command index `index`.
    #[inline]
    pub const fn context(self, index: u16) -> ContextTag {
        ContextTag {
            tag: index,
            seq: self.gen,
        }
    }

    /// Whether a completion with context `ctx` names the submission this state records, on
    /// index `index`: the only case in which the command is taken back.
    #[inline]
    pub const fn matches(self, index: u16, ctx: ContextTag) -> bool {
        matches!(self.phase, Phase::Hardware) && ctx.tag == index && ctx.seq == self.gen
    }

    /// Whether a completion with context `ctx` gives back the submission an abandoned index
    /// still waits for: the index may then be used again.
    #[inline]
    pub const fn returns_abandoned(self, index: u16, ctx: ContextTag) -> bool {
        matches!(self.phase, Phase::Abandoned) && ctx.tag == index && ctx.seq == self.gen
    }
}

#[cfg(any(test, CONFIG_RUST_SCSI_KUNIT_TEST))]
#[cfg_attr(not(test), ::kernel::macros::kunit_tests(rust_scsi_ring))]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_size() {
        let r = Ring::new(4).unwrap();
        assert_eq!(r.next(2), 3);
        assert_eq!(r.next(3), 0);
        let mut p = r.pending(3, 2).unwrap();
        let mut seen = [0u32; 4];
        let mut n = 0;
        for i in p.by_ref() {
            seen[n] = i;
            n += 1;
        }
        assert_eq!(&seen[..n], &[3, 0, 1]);
        assert_eq!(p.at(), 2);
        assert_eq!(r.distance(3, 2), 3);
        assert_eq!(r.distance(1, 1), 0);
    }

    #[test]
    fn empty_and_full_size_one() {
        let r = Ring::new(1).unwrap();
        assert_eq!(r.next(0), 0);
        assert_eq!(r.pending(0, 0).unwrap().count(), 0);
        assert!(Ring::new(0).is_none());
    }

    #[test]
    fn rejects_indices_outside_the_ring() {
        let r = Ring::new(1000).unwrap();
        assert_eq!(r.pending(0, 1000).err(), Some(BadIndex(1000)));
        assert_eq!(r.pending(u32::MAX, 0).err(), Some(BadIndex(u32::MAX)));
    }

    #[test]
    fn every_distance_matches_iteration() {
        let r = Ring::new(7).unwrap();
        for c in 0..7 {
            for p in 0..7 {
                assert_eq!(r.pending(c, p).unwrap().count(), r.distance(c, p) as usize);
            }
        }
    }

    #[test]
    fn index_state_round_trip() {
        for phase in [
            Phase::Idle,
            Phase::Driver,
            Phase::Hardware,
            Phase::Abandoned,
        ] {
            for gen in [0, 1, 0x7fff, 0xffff] {
                let st = IndexState { gen, phase };
                assert_eq!(IndexState::unpack(st.pack()), Some(st));
            }
        }
        assert_eq!(IndexState::IDLE.pack(), 0);
        assert_eq!(IndexState::unpack(4), None);
        assert_eq!(
            IndexState::unpack(0x0001_0002),
            Some(IndexState {
                gen: 1,
                phase: Phase::Hardware
            })
        );
    }

    #[test]
    fn generations_wrap_at_65536() {
        let st = IndexState {
            gen: 0xffff,
            phase: Phase::Driver,
        };
        assert_eq!(
            st.submitted(),
            IndexState {
                gen: 0,
                phase: Phase::Hardware
            }
        );
    }

    #[test]
    fn a_late_completion_matches_no_later_submission() {
        // A completion for submission 1 of index 3, reported after the index was given to other
        // commands (whichever requests they were): none of the next 65535 submissions matches.
        let first = IndexState::IDLE.submitted();
        let late = first.context(3);
        assert!(first.matches(3, late));
        assert!(!first.with(Phase::Driver).matches(3, late));
        assert!(!first.with(Phase::Idle).matches(3, late));
        assert!(!first.matches(4, late));
        let mut st = first;
        for _ in 0..65535 {
            st = st.with(Phase::Idle).submitted();
            assert!(!st.matches(3, late));
        }
        // The 65536th wraps back onto it: a context is 32 bits, 16 of them the generation.
        st = st.with(Phase::Idle).submitted();
        assert!(st.matches(3, late));
    }

    #[test]
    fn an_abandoned_index_waits_for_its_own_completion() {
        // Submission 1 of index 3 is abandoned (its command timed out while the device held it).
        let abandoned = IndexState::IDLE.submitted().with(Phase::Abandoned);
        let own = abandoned.context(3);
        // Its own completion gives it back; it takes back no command.
        assert!(abandoned.returns_abandoned(3, own));
        assert!(!abandoned.matches(3, own));
        // Nothing else does: an earlier submission, another index, a state that is not
        // abandoned.
        assert!(!abandoned.returns_abandoned(3, IndexState::IDLE.context(3)));
        assert!(!abandoned.returns_abandoned(4, own));
        assert!(!abandoned.with(Phase::Hardware).returns_abandoned(3, own));
        assert!(!abandoned.with(Phase::Idle).returns_abandoned(3, own));
    }

    #[test]
    fn context_tag_round_trip() {
        let c = ContextTag {
            tag: 0x1234,
            seq: 0xabcd,
        };
        assert_eq!(c.to_u32(), 0xabcd_1234);
        assert_eq!(ContextTag::from_u32(0xabcd_1234), c);
        assert_eq!(ContextTag::from_u32(7), ContextTag { tag: 7, seq: 0 });
    }
}
