//! The job kinds the domain runs on the shared job queue ([`crate::jobs`]): the
//! dispatcher the jobs worker is given at start-up. A new kind adds a line to each
//! `match` here and its functions in its own module.

use crate::channels::{inquiries, whatsapp};
use crate::context::Ctx;
use crate::db::Tx;
use crate::jobs::{Failure, Handler, Job, Outcome};

/// Runs every job kind with the domain's context.
pub struct Kinds {
    ctx: Ctx,
}

impl Kinds {
    /// The dispatcher over `ctx`.
    pub fn new(ctx: Ctx) -> Self {
        Self { ctx }
    }
}

impl Handler for Kinds {
    async fn perform(&self, job: &Job) -> Result<String, Failure> {
        match job.kind.as_str() {
            inquiries::job::KIND => inquiries::job::perform(&self.ctx, job).await,
            whatsapp::webhook::EVENT_JOB => whatsapp::inbound::perform(&self.ctx, job).await,
            whatsapp::outbound::SEND_JOB => whatsapp::outbound::perform(&self.ctx, job).await,
            other => Err(Failure::permanent(format!("unknown job kind {other:?}"))),
        }
    }

    async fn settle(&self, tx: &mut Tx, job: &Job, outcome: &Outcome) -> Result<(), sqlx::Error> {
        match job.kind.as_str() {
            inquiries::job::KIND => inquiries::job::settle(tx, job, outcome).await,
            whatsapp::outbound::SEND_JOB => whatsapp::outbound::settle(tx, job, outcome).await,
            _ => Ok(()),
        }
    }

    async fn settled(&self, job: &Job, outcome: &Outcome) {
        match job.kind.as_str() {
            inquiries::job::KIND => inquiries::job::settled(&self.ctx, job, outcome).await,
            whatsapp::outbound::SEND_JOB => whatsapp::outbound::settled(&self.ctx, job, outcome).await,
            _ => {}
        }
    }
}
