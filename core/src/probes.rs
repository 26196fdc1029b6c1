//! Half-open probe slots (docs/semantics.md, "Half-open"): admission and verdict in O(1) under the state lock.
//!
//! A probe holds one slot of a table that never grows beyond `half_open_max_calls` (bounded by
//! [`crate::config::MAX_HALF_OPEN_MAX_CALLS`], below 2^14). Its ticket names the slot (low 14
//! bits) and how many probes that slot had held before in this generation (the next 17 bits), so
//! a ticket that was already recorded, or one forged, does not match the slot's current holder
//! and frees nothing. The use count wraps after 131,072 probes through one slot in one half-open
//! generation; only a copy of a spent probe permit kept across that many reuses could match
//! again (the C ABI's spent flag refuses the original; the other bindings' permits cannot be
//! copied). Bit 31 of a ticket is never set and slot 2^14 - 1 is never used: a level over the
//! breaker marks its permits with them ([`crate::permit::RawPermit::marked`]).

use crate::permit::NO_TICKET;

const SLOT_BITS: u32 = 14;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const USES_MASK: u32 = u32::MAX >> (SLOT_BITS + 1);
// Below, not up to: the last slot is never used, so no ticket is `NO_TICKET` with bit 31 clear.
const _: () = assert!(crate::config::MAX_HALF_OPEN_MAX_CALLS < SLOT_MASK);

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Probes this slot held before, modulo 2^17.
    uses: u32,
    held: bool,
    /// The process that holds the probe, for a breaker shared by processes (0 otherwise).
    owner: u32,
}

#[derive(Debug)]
pub(crate) struct Probes {
    slots: Vec<Slot>,
    free: Vec<u32>,
    outstanding: u32,
}

impl Probes {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { slots: Vec::with_capacity(capacity), free: Vec::with_capacity(capacity), outstanding: 0 }
    }

    /// Probes admitted and not yet recorded in this generation.
    pub(crate) fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// Takes a slot and returns its ticket. The caller admits only while `outstanding()` is below
    /// `half_open_max_calls`, so the table holds at most that many slots and no ticket equals
    /// [`NO_TICKET`].
    #[cfg(test)]
    pub(crate) fn admit(&mut self) -> u32 {
        self.admit_for(0)
    }

    /// [`Self::admit`] for a probe held by process `owner` (a breaker shared by processes).
    pub(crate) fn admit_for(&mut self, owner: u32) -> u32 {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot { uses: 0, held: false, owner: 0 });
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[index as usize];
        slot.held = true;
        slot.owner = owner;
        self.outstanding += 1;
        let ticket = (slot.uses << SLOT_BITS) | index;
        debug_assert_ne!(ticket, NO_TICKET);
        ticket
    }

    /// Frees the slot `ticket` holds; `false` if it holds none (recorded already, or forged).
    pub(crate) fn release(&mut self, ticket: u32) -> bool {
        let index = ticket & SLOT_MASK;
        let uses = ticket >> SLOT_BITS;
        match self.slots.get_mut(index as usize) {
            Some(slot) if slot.held && slot.uses == uses => {
                slot.held = false;
                slot.uses = (slot.uses + 1) & USES_MASK;
                self.free.push(index);
                self.outstanding -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether a probe can be admitted without the table growing beyond `budget` slots (a shared
    /// breaker's table must fit its record).
    pub(crate) fn has_room(&self, budget: u32) -> bool {
        !self.free.is_empty() || (self.slots.len() as u64) < u64::from(budget)
    }

    /// Frees the slots held by processes that `alive` says are gone (their probes can never be
    /// recorded); returns how many. Slots without an owner are never freed here.
    #[cfg(not(loom))]
    pub(crate) fn release_dead(&mut self, alive: impl Fn(u32) -> bool) -> u32 {
        let mut freed = 0;
        // One liveness check per process, however many slots it holds.
        let mut checked: Vec<(u32, bool)> = Vec::new();
        for index in 0..self.slots.len() {
            let slot = self.slots[index];
            if !slot.held || slot.owner == 0 {
                continue;
            }
            let live = match checked.iter().find(|(pid, _)| *pid == slot.owner) {
                Some(&(_, live)) => live,
                None => {
                    let live = alive(slot.owner);
                    checked.push((slot.owner, live));
                    live
                }
            };
            if !live {
                let _ = self.release((slot.uses << SLOT_BITS) | index as u32);
                freed += 1;
            }
        }
        freed
    }

    /// Forgets every slot (a new generation).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.outstanding = 0;
    }
}

/// The probe table as words in a shared record (`crate::shared`).
#[cfg(not(loom))]
mod codec {
    use super::{Probes, Slot, USES_MASK};
    use crate::shared::words::{Reader, Writer};

    impl Probes {
        /// Words the encoding of a table of at most `capacity` slots takes.
        pub(crate) fn encoded_words(capacity: u32) -> usize {
            1 + capacity as usize
        }

        pub(crate) fn encode(&self, out: &mut Writer<'_>) {
            out.put(self.slots.len() as u64);
            for slot in &self.slots {
                out.put(u64::from(slot.uses) | (u64::from(slot.held) << 18) | (u64::from(slot.owner) << 32));
            }
        }

        /// Overwrites this table with an encoded one of at most `capacity` slots; `None` if the
        /// encoding is not valid.
        pub(crate) fn decode_from(&mut self, input: &mut Reader<'_>, capacity: u32) -> Option<()> {
            let len = input.get_at_most(u64::from(capacity))? as usize;
            self.slots.clear();
            self.free.clear();
            self.outstanding = 0;
            for index in 0..len {
                let word = input.get()?;
                let uses = (word & u64::from(USES_MASK)) as u32;
                let held = (word >> 18) & 1 == 1;
                // Bit 17 is no use count's (it wraps below it) and bits 19-31 are unused.
                if (word >> 17) & 1 != 0 || (word >> 19) & 0x1FFF != 0 {
                    return None;
                }
                let owner = (word >> 32) as u32;
                self.slots.push(Slot { uses, held, owner });
                if held {
                    self.outstanding += 1;
                } else {
                    self.free.push(index as u32);
                }
            }
            self.free.reverse();
            Some(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_frees_its_slot_once_and_a_reused_slot_gets_a_new_ticket() {
        let mut probes = Probes::with_capacity(2);
        let a = probes.admit();
        let b = probes.admit();
        assert_ne!(a, b);
        assert_eq!(probes.outstanding(), 2);
        assert!(probes.release(a));
        assert!(!probes.release(a), "a recorded ticket frees nothing");
        let c = probes.admit();
        assert_ne!(c, a, "the reused slot hands out a different ticket");
        assert!(!probes.release(a));
        assert!(probes.release(c));
        assert!(probes.release(b));
        assert_eq!(probes.outstanding(), 0);
        assert!(!probes.release(12_345), "a forged ticket frees nothing");
    }

    #[test]
    fn ten_thousand_probes_cost_constant_time_each() {
        let mut probes = Probes::with_capacity(64);
        let tickets: Vec<u32> = (0..10_000).map(|_| probes.admit()).collect();
        assert_eq!(probes.outstanding(), 10_000);
        for t in tickets.iter().rev() {
            assert!(probes.release(*t));
        }
        assert_eq!(probes.outstanding(), 0);
        probes.clear();
        assert_eq!(probes.admit() & SLOT_MASK, 0);
    }

    /// Every ticket the table can hand out (every slot, every use count) has bit 31 clear and
    /// is not the mark of `NO_TICKET`, so a marked permit is told from every real one and
    /// unmarks to what it was.
    #[test]
    fn no_ticket_looks_marked_and_every_mark_undoes() {
        use crate::permit::RawPermit;
        let permit = |ticket| RawPermit::from_parts(1, RawPermit::NO_TIME, ticket);
        let highest_slot = crate::config::MAX_HALF_OPEN_MAX_CALLS - 1;
        for uses in [0, 1, USES_MASK / 2, USES_MASK] {
            for index in [0, 1, highest_slot] {
                let ticket = (uses << SLOT_BITS) | index;
                let real = permit(ticket);
                assert!(!real.is_marked(), "ticket {ticket:#x} looks marked");
                let marked = real.marked();
                assert!(marked.is_marked() && marked.to_parts().2 != NO_TICKET);
                assert_eq!(marked.unmarked(), real);
                assert_eq!(real.unmarked(), real);
            }
        }
        let ordinary = permit(NO_TICKET);
        assert!(!ordinary.is_marked() && ordinary.marked().is_marked() && ordinary.marked().is_probe());
        assert_eq!(ordinary.marked().unmarked(), ordinary);
        // The use count wraps within its bits: after the last use, the slot's next ticket is use 0.
        let mut probes = Probes::with_capacity(1);
        let t = probes.admit();
        assert!(probes.release(t));
        probes.slots[0].uses = USES_MASK;
        let last = probes.admit();
        assert_eq!(last, USES_MASK << SLOT_BITS, "slot 0, the last use");
        assert_eq!(last & crate::permit::TICKET_MARK, 0, "the last use leaves bit 31 clear");
        assert!(probes.release(last));
        assert_eq!(probes.admit(), 0, "slot 0, use 0 again");
    }
}
