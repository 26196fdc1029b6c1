//! Half-open probe slots (docs/semantics.md, "Half-open"): admission and verdict in O(1) under the state lock.
//!
//! A probe holds one slot of a table that never grows beyond `half_open_max_calls` (bounded by
//! [`crate::config::MAX_HALF_OPEN_MAX_CALLS`], below 2^14). Its ticket names the slot (low 14
//! bits) and how many probes that slot had held before in this generation (high 18 bits), so a
//! ticket that was already recorded, or one forged, does not match the slot's current holder and
//! frees nothing. The use count wraps after 262,144 probes through one slot in one half-open
//! generation; only a copy of a spent probe permit kept across that many reuses could match
//! again (the C ABI's spent flag refuses the original; the other bindings' permits cannot be
//! copied).

use crate::permit::NO_TICKET;

const SLOT_BITS: u32 = 14;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const USES_MASK: u32 = u32::MAX >> SLOT_BITS;
const _: () = assert!(crate::config::MAX_HALF_OPEN_MAX_CALLS <= SLOT_MASK);

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Probes this slot held before, modulo 2^18.
    uses: u32,
    held: bool,
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
    pub(crate) fn admit(&mut self) -> u32 {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot { uses: 0, held: false });
            (self.slots.len() - 1) as u32
        });
        let slot = &mut self.slots[index as usize];
        slot.held = true;
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

    /// Forgets every slot (a new generation).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.outstanding = 0;
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
}
