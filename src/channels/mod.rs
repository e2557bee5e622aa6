//! Ways in besides the public call page and the API: WhatsApp (the Cloud API's
//! webhooks and send format).

pub mod whatsapp;
