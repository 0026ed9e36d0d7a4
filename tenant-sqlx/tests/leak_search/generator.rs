//! The generator: a whole program, sequentially, over a model of every tenant.

use super::model::{
    After, CheckedOp, Cmp, Col, F, Mode, Op, OrderSpec, PAGE_SPECS, Patch, Row, State, predict,
};
use super::*;

struct Generator {
    rng: Rng,
    states: Vec<State>,
    /// Whether the op being generated names something of another tenant.
    cross: bool,
    /// Whether the last label was tagged with another tenant's name (which matters in filters).
    foreign_label: bool,
}

impl Generator {
    fn other_tenant(&mut self, t: usize) -> usize {
        (t + 1 + self.rng.below(TENANTS as u64 - 1) as usize) % TENANTS
    }

    /// A key: often the tenant's own, often one only another tenant has, sometimes any.
    pub(crate) fn id(&mut self, t: usize) -> i64 {
        let roll = self.rng.below(100);
        if roll < 50 {
            let own: Vec<i64> = self.states[t].keys().copied().collect();
            if let Some(&id) = self.rng.pick(&own) {
                return id;
            }
        } else if roll < 80 {
            let other = self.other_tenant(t);
            let theirs: Vec<i64> = self.states[other]
                .keys()
                .filter(|id| !self.states[t].contains_key(id))
                .copied()
                .collect();
            if let Some(&id) = self.rng.pick(&theirs) {
                self.cross = true;
                return id;
            }
        }
        1 + self.rng.below(KEYS as u64) as i64
    }

    pub(crate) fn code(&mut self, t: usize) -> String {
        if self.rng.chance(30) {
            let other = self.other_tenant(t);
            let theirs: Vec<String> = self.states[other]
                .values()
                .map(|r| r.code.clone())
                .filter(|c| !self.states[t].values().any(|r| &r.code == c))
                .collect();
            if let Some(code) = self.rng.pick(&theirs) {
                self.cross = true;
                return code.clone();
            }
        }
        format!("c{}", self.rng.below(CODES))
    }

    /// A word, or a word tagged with a tenant's name (sometimes another tenant's).
    pub(crate) fn label(&mut self, t: usize) -> String {
        let word = WORDS[self.rng.below(WORDS.len() as u64) as usize];
        self.foreign_label = false;
        match self.rng.below(3) {
            0 => word.to_owned(),
            1 => format!("{}-{word}", tenant_name(t)),
            _ => {
                self.foreign_label = true;
                let other = self.other_tenant(t);
                format!("{}-{word}", tenant_name(other))
            }
        }
    }

    pub(crate) fn group(&mut self, t: usize) -> i64 {
        match self.rng.below(10) {
            0 => {
                self.cross = true;
                PRIVATE_GROUP + self.other_tenant(t) as i64
            }
            1 | 2 => PRIVATE_GROUP + t as i64,
            _ => 1 + self.rng.below(SHARED_GROUPS as u64) as i64,
        }
    }

    pub(crate) fn note(&mut self) -> Option<String> {
        self.rng
            .chance(60)
            .then(|| WORDS[self.rng.below(WORDS.len() as u64) as usize].to_owned())
    }

    pub(crate) fn row(&mut self, t: usize) -> Row {
        Row {
            id: self.id(t),
            code: self.code(t),
            label: self.label(t),
            amount: self.rng.below(21) as i64 - 10,
            note: self.note(),
            group: self.group(t),
        }
    }

    pub(crate) fn patch(&mut self, t: usize) -> Patch {
        Patch {
            code: self.rng.chance(20).then(|| self.code(t)),
            label: self.rng.chance(30).then(|| self.label(t)),
            amount: self.rng.chance(40).then(|| self.rng.below(21) as i64 - 10),
            note: self.rng.chance(25).then(|| self.note()),
            group: self.rng.chance(20).then(|| self.group(t)),
        }
    }

    pub(crate) fn cmp(&mut self) -> Cmp {
        [Cmp::Eq, Cmp::Ne, Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge][self.rng.below(6) as usize]
    }

    pub(crate) fn pattern(&mut self, t: usize) -> String {
        let base = self.label(t);
        let cut = self.rng.below(base.len() as u64 + 1) as usize;
        let mut pattern: String = base.chars().take(cut).collect();
        // A pattern may not end with the escape character (PostgreSQL refuses it).
        if pattern.ends_with('\\') {
            pattern.pop();
        }
        match self.rng.below(4) {
            0 => pattern.push('%'),
            1 => pattern = format!("%{pattern}%"),
            2 => pattern.push('_'),
            _ => {}
        }
        pattern
    }

    pub(crate) fn filter(&mut self, t: usize, depth: u32) -> F {
        if depth < 2 && self.rng.chance(35) {
            let a = Box::new(self.filter(t, depth + 1));
            return match self.rng.below(3) {
                0 => F::And(a, Box::new(self.filter(t, depth + 1))),
                1 => F::Or(a, Box::new(self.filter(t, depth + 1))),
                _ => F::Not(a),
            };
        }
        match self.rng.below(14) {
            0 => F::All,
            1 => F::Not(Box::new(F::All)),
            2 => {
                let op = self.cmp();
                F::Id(op, self.id(t))
            }
            3 => {
                let op = self.cmp();
                F::Amount(op, self.rng.below(21) as i64 - 10)
            }
            4 => {
                let op = self.cmp();
                F::Code(op, self.code(t))
            }
            5 => {
                let op = self.cmp();
                let label = self.label(t);
                self.cross |= self.foreign_label;
                F::Label(op, label)
            }
            6 => {
                let n = self.rng.below(4);
                F::IdIn((0..n).map(|_| self.id(t)).collect())
            }
            7 => {
                let n = self.rng.below(4);
                F::CodeIn((0..n).map(|_| self.code(t)).collect())
            }
            8 => {
                let pattern = self.pattern(t);
                self.cross |= self.foreign_label;
                F::LabelLike(pattern)
            }
            9 => {
                let label = self.label(t);
                self.cross |= self.foreign_label;
                let cut = self.rng.below(label.len() as u64 + 1) as usize;
                F::LabelStartsWith(label.chars().take(cut).collect())
            }
            10 => F::NoteEq(WORDS[self.rng.below(WORDS.len() as u64) as usize].to_owned()),
            11 => F::NoteLike(self.pattern(t)),
            12 => F::NoteIsNull,
            _ => F::Not(Box::new(F::NoteIsNull)),
        }
    }

    pub(crate) fn order(&mut self) -> OrderSpec {
        let n = 1 + self.rng.below(3);
        (0..n)
            .map(|_| {
                let col = [Col::Id, Col::Code, Col::Label, Col::Amount][self.rng.below(4) as usize];
                (col, self.rng.chance(50))
            })
            .collect()
    }

    pub(crate) fn kind(&mut self, t: usize) -> Kind {
        match self.rng.below(106) {
            0..=7 => Kind::Get(self.id(t)),
            8..=9 => Kind::List,
            10..=13 => Kind::ListWhere(self.filter(t, 0)),
            14..=15 => Kind::Count,
            16..=19 => Kind::CountWhere(self.filter(t, 0)),
            20..=22 => Kind::Exists(self.filter(t, 0)),
            23..=34 => Kind::Insert(self.row(t)),
            35..=39 => {
                let n = self.rng.below(5);
                Kind::InsertMany((0..n).map(|_| self.row(t)).collect())
            }
            40..=45 => Kind::Upsert(self.row(t), self.patch(t)),
            46..=51 => Kind::Update(self.id(t), self.patch(t)),
            52..=54 => Kind::UpdateWhere(self.filter(t, 0), self.patch(t)),
            55..=60 => Kind::Delete(self.id(t)),
            61..=62 => Kind::DeleteWhere(self.filter(t, 0)),
            63..=70 => Kind::Select {
                filter: self.rng.chance(70).then(|| self.filter(t, 0)),
                order: self.rng.chance(70).then(|| self.order()),
                limit: self.rng.chance(50).then(|| self.rng.below(6)),
                offset: self.rng.chance(40).then(|| self.rng.below(6)),
                stream: self.rng.chance(50),
            },
            71..=86 => {
                let spec = self.rng.below(PAGE_SPECS.len() as u64) as usize;
                let after = match self.rng.below(10) {
                    0 | 1 => After::Start,
                    2 => After::OtherSpec(self.rng.below(PAGE_SPECS.len() as u64) as usize),
                    3 | 4 => {
                        // A tenant its task also runs, so the cursor exists by then.
                        let siblings: Vec<usize> = (0..TENANTS)
                            .filter(|&o| o != t && o % TASKS == t % TASKS)
                            .collect();
                        After::Foreign(*self.rng.pick(&siblings).expect("siblings"))
                    }
                    _ => After::Own,
                };
                Kind::Page {
                    spec,
                    limit: self.rng.below(5),
                    after,
                }
            }
            87..=90 => Kind::WithParent(self.rng.chance(60).then(|| self.filter(t, 0))),
            91..=97 => Kind::RawTx {
                insert: self.rng.chance(60).then(|| self.row(t)),
                commit: self.rng.chance(70),
                foreign: self.other_tenant(t),
            },
            98..=99 => Kind::Unbound,
            100..=101 => Kind::Checked(CheckedOp::JoinAtLeast(self.rng.below(1000) as i64)),
            102..=103 => Kind::Checked(CheckedOp::LeftJoinCount),
            _ => Kind::Checked(CheckedOp::AddAmount(
                self.id(t),
                1 + self.rng.below(9) as i64,
            )),
        }
    }
}

pub(crate) fn generate(seed: u64, n: usize) -> Vec<Op> {
    let mut generator = Generator {
        rng: Rng::new(seed),
        states: vec![State::new(); TENANTS],
        cross: false,
        foreign_label: false,
    };
    (0..n)
        .map(|_| {
            let tenant = generator.rng.below(TENANTS as u64) as usize;
            generator.cross = false;
            let kind = generator.kind(tenant);
            let in_tx = generator.rng.chance(20);
            let op = Op {
                tenant,
                in_tx,
                cross: generator.cross,
                kind,
            };
            // Cursors do not matter to the state: predict as if every page started afresh.
            let _ = predict(
                &mut generator.states[tenant],
                &op,
                Mode::Predicates,
                None,
                None,
            );
            op
        })
        .collect()
}
