//! How the leak search makes this app's rows (feature `testkit`): the orphan rule puts a
//! foreign trait's impls for the app's types in the app's crate, so they live here, behind the
//! feature only the tests turn on.

use tenant::TenantId;
use tenant::sqlx::Order;
use tenant_testkit::{Fixture, Gen, Generate};

use crate::{
    Comment, CommentPatch, Customer, CustomerPatch, NewComment, NewCustomer, NewProject, NewTask,
    Project, ProjectPatch, Status, Task, TaskPatch,
};

impl Generate for Status {
    fn generate(g: &mut Gen<'_>) -> Self {
        *g.pick(&[Status::Open, Status::Doing, Status::Done])
    }
}

impl Fixture for Customer {
    fn key(&self) -> i64 {
        self.id
    }
    fn tenant(&self) -> &TenantId {
        &self.tenant_id
    }
    fn new_row(id: i64, g: &mut Gen<'_>) -> NewCustomer {
        NewCustomer {
            id,
            name: g.value(),
        }
    }
    fn patch(g: &mut Gen<'_>) -> CustomerPatch {
        CustomerPatch { name: g.value() }
    }
    fn stored(new: &NewCustomer, tenant: &TenantId) -> Option<Self> {
        Some(Customer {
            id: new.id,
            tenant_id: tenant.clone(),
            name: new.name.clone(),
        })
    }
    fn apply(&mut self, patch: &CustomerPatch) {
        if let Some(name) = &patch.name {
            self.name.clone_from(name);
        }
    }
    fn page_order() -> Option<Order<Self>> {
        Some(Customer::columns().name.asc())
    }
}

impl Fixture for Project {
    fn key(&self) -> i64 {
        self.id
    }
    fn tenant(&self) -> &TenantId {
        &self.tenant_id
    }
    fn new_row(id: i64, g: &mut Gen<'_>) -> NewProject {
        NewProject {
            id,
            customer_id: g.parent::<Customer>(),
            title: g.value(),
        }
    }
    fn patch(g: &mut Gen<'_>) -> ProjectPatch {
        ProjectPatch {
            customer_id: g.rng().chance(30).then(|| g.parent::<Customer>()),
            title: g.value(),
        }
    }
    fn stored(new: &NewProject, tenant: &TenantId) -> Option<Self> {
        Some(Project {
            id: new.id,
            tenant_id: tenant.clone(),
            customer_id: new.customer_id,
            title: new.title.clone(),
        })
    }
    fn apply(&mut self, patch: &ProjectPatch) {
        if let Some(customer_id) = patch.customer_id {
            self.customer_id = customer_id;
        }
        if let Some(title) = &patch.title {
            self.title.clone_from(title);
        }
    }
}

impl Fixture for Task {
    fn key(&self) -> i64 {
        self.id
    }
    fn tenant(&self) -> &TenantId {
        &self.tenant_id
    }
    fn new_row(id: i64, g: &mut Gen<'_>) -> NewTask {
        NewTask {
            id,
            project_id: g.parent::<Project>(),
            summary: g.value(),
            status: g.value(),
            estimate: g.value(),
        }
    }
    fn patch(g: &mut Gen<'_>) -> TaskPatch {
        TaskPatch {
            project_id: None,
            summary: g.value(),
            status: g.value(),
            estimate: g.value(),
        }
    }
    fn stored(new: &NewTask, tenant: &TenantId) -> Option<Self> {
        Some(Task {
            id: new.id,
            tenant_id: tenant.clone(),
            project_id: new.project_id,
            summary: new.summary.clone(),
            status: new.status,
            estimate: new.estimate,
        })
    }
    fn apply(&mut self, patch: &TaskPatch) {
        if let Some(project_id) = patch.project_id {
            self.project_id = project_id;
        }
        if let Some(summary) = &patch.summary {
            self.summary.clone_from(summary);
        }
        if let Some(status) = patch.status {
            self.status = status;
        }
        if let Some(estimate) = patch.estimate {
            self.estimate = estimate;
        }
    }
    fn page_order() -> Option<Order<Self>> {
        Some(Task::columns().summary.desc())
    }
}

impl Fixture for Comment {
    fn key(&self) -> i64 {
        self.id
    }
    fn tenant(&self) -> &TenantId {
        &self.tenant_id
    }
    fn new_row(id: i64, g: &mut Gen<'_>) -> NewComment {
        NewComment {
            id,
            task_id: g.parent::<Task>(),
            body: g.value(),
        }
    }
    fn patch(g: &mut Gen<'_>) -> CommentPatch {
        CommentPatch {
            task_id: None,
            body: g.value(),
        }
    }
    fn stored(new: &NewComment, tenant: &TenantId) -> Option<Self> {
        Some(Comment {
            id: new.id,
            tenant_id: tenant.clone(),
            task_id: new.task_id,
            body: new.body.clone(),
        })
    }
    fn apply(&mut self, patch: &CommentPatch) {
        if let Some(body) = &patch.body {
            self.body.clone_from(body);
        }
    }
}
