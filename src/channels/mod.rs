//! Ways in besides the live call page: written inquiries (stored at once, classified
//! with a suggested reply in the background, answered by staff by email).

pub mod inquiries;
