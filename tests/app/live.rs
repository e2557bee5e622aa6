//! Live operations over HTTP, on both databases: the staff event stream, takeover races,
//! approvals that execute exactly once, the board and read-only viewers, the customer's
//! page and what follows a call.

mod approvals;
mod board;
mod customer_page;
mod staff_stream;
mod summary;
mod takeover;
