//! The records of every activity attempt an in-process worker ran, for the assertions.

use std::sync::{Arc, Mutex};

use example_temporal::{ActivityRecord, Provisioning};

/// What each activity attempt saw, in order.
#[derive(Clone, Default)]
pub(crate) struct Journal {
    records: Arc<Mutex<Vec<ActivityRecord>>>,
}

impl Journal {
    /// `activities`, handing this journal each record.
    pub(crate) fn observe(&self, activities: Provisioning) -> Provisioning {
        let records = Arc::clone(&self.records);
        activities.with_observer(move |record| {
            records.lock().expect("journal lock").push(record.clone());
        })
    }

    /// The records so far.
    pub(crate) fn records(&self) -> Vec<ActivityRecord> {
        self.records.lock().expect("journal lock").clone()
    }
}
