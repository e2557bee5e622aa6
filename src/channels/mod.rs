//! Ways in besides the public call page and the API: WhatsApp (the Cloud API's
//! webhooks and send format) and written inquiries (stored at once, classified with a
//! suggested reply in the background, answered by staff by email).

pub mod inquiries;
pub mod whatsapp;
