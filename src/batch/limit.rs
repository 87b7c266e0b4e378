//! `--max-lines` (issue 15): per program and batch, the first N lines are listed; the ones
//! after are counted (how many, the first and last time), not stored. A crash loop then costs
//! a batch N lines and one counter per program, however long it lasts and however long the
//! mail server is down, and the mail ends with one line per such program: "web:web_01: 4812
//! more crashes between T1 and T2". Every line the tool would have written is in the mail,
//! listed or counted.
//!
//! This is the decision only: what the batch does with it (the line, the spool's note, the
//! mail's last lines) is `batch.rs`'s.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

/// The lines of one program counted beyond the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub first: SystemTime,
    pub last: SystemTime,
}

impl Tally {
    fn one(when: SystemTime) -> Tally {
        Tally {
            count: 1,
            first: when,
            last: when,
        }
    }
}

/// What to do with a line of a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// List it in the batch.
    List,
    /// Count it: the program's tally in this batch, this line included.
    Count(Tally),
}

#[derive(Debug, Default)]
struct Program {
    listed: u32,
    more: Option<Tally>,
}

/// The per-program bound of one batch.
#[derive(Debug)]
pub struct Limit {
    /// 0: no limit.
    max: u32,
    programs: HashMap<String, Program>,
}

impl Limit {
    pub fn new(max: u32) -> Limit {
        Limit {
            max,
            programs: HashMap::new(),
        }
    }

    /// A line of `program` at `when`: listed while the program has fewer than `max` in this
    /// batch, counted after.
    pub fn admit(&mut self, program: &str, when: SystemTime) -> Decision {
        if self.max == 0 {
            return Decision::List;
        }
        // One allocation per program and batch, not per line.
        let p = match self.programs.get_mut(program) {
            Some(p) => p,
            None => self.programs.entry(program.to_owned()).or_default(),
        };
        if p.listed < self.max && p.more.is_none() {
            p.listed += 1;
            return Decision::List;
        }
        let tally = match &mut p.more {
            Some(t) => {
                t.count += 1;
                t.first = t.first.min(when);
                t.last = t.last.max(when);
                *t
            }
            None => *p.more.insert(Tally::one(when)),
        };
        Decision::Count(tally)
    }

    /// A count left by an earlier run (the spool's): the program's listed lines are in the
    /// batch already, so its next lines are counted on top of it.
    pub fn restore(&mut self, program: String, tally: Tally) {
        let p = self.programs.entry(program).or_default();
        p.listed = p.listed.max(self.max);
        p.more = Some(match p.more {
            Some(t) => Tally {
                count: t.count + tally.count,
                first: t.first.min(tally.first),
                last: t.last.max(tally.last),
            },
            None => tally,
        });
    }

    /// Any line counted, not listed.
    pub fn counted(&self) -> bool {
        self.programs.values().any(|p| p.more.is_some())
    }

    /// The batch is sent: the counted programs in name order, and a fresh start.
    pub fn take(&mut self) -> Vec<(String, Tally)> {
        let counted: BTreeMap<String, Tally> = self
            .programs
            .drain()
            .filter_map(|(name, p)| Some((name, p.more?)))
            .collect();
        counted.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn the_first_n_are_listed_then_counted_with_first_and_last_time() {
        let mut l = Limit::new(3);
        let decisions: Vec<Decision> = (1..=6).map(|s| l.admit("web:a", at(s))).collect();
        assert_eq!(&decisions[..3], &[Decision::List; 3]);
        assert_eq!(
            decisions[5],
            Decision::Count(Tally {
                count: 3,
                first: at(4),
                last: at(6)
            })
        );
        // Per program: another program has its own N.
        assert_eq!(l.admit("web:b", at(7)), Decision::List);
        assert!(l.counted());
        assert_eq!(
            l.take(),
            [(
                "web:a".to_owned(),
                Tally {
                    count: 3,
                    first: at(4),
                    last: at(6)
                }
            )]
        );
        // Per batch: the next batch lists again.
        assert!(!l.counted());
        assert_eq!(l.admit("web:a", at(8)), Decision::List);
    }

    #[test]
    fn zero_means_no_limit() {
        let mut l = Limit::new(0);
        assert!((0..10_000).all(|s| l.admit("a", at(s)) == Decision::List));
        assert!(l.take().is_empty());
    }

    #[test]
    fn a_restored_count_goes_on_counting() {
        let mut l = Limit::new(20);
        let t = Tally {
            count: 100,
            first: at(10),
            last: at(20),
        };
        l.restore("web:a".into(), t);
        assert_eq!(
            l.admit("web:a", at(30)),
            Decision::Count(Tally {
                count: 101,
                first: at(10),
                last: at(30)
            })
        );
        assert_eq!(l.admit("web:b", at(30)), Decision::List);
        assert_eq!(l.take().len(), 1);
    }
}
