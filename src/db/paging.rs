//! Paged lists: `?page=&per_page=` in, `{"items", "total", "page", "per_page"}` out.

use serde::Serialize;

use crate::error::AppError;

/// Default and largest page sizes.
pub const DEFAULT_PER_PAGE: i64 = 25;
/// Largest page a client may ask for.
pub const MAX_PER_PAGE: i64 = 200;

/// Which page of a list (1-based) and how many rows per page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// 1-based page number.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

impl Default for Paging {
    fn default() -> Self {
        Self { page: 1, per_page: DEFAULT_PER_PAGE }
    }
}

impl Paging {
    /// Reads the two query values (missing or empty → defaults); anything else that is
    /// not a whole number in range is a 422 naming the field.
    pub fn parse(page: Option<&str>, per_page: Option<&str>) -> Result<Self, AppError> {
        let page = number(page, "page", 1, 1, 1_000_000)?;
        let per_page = number(per_page, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)?;
        Ok(Self { page, per_page })
    }

    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// Rows to fetch (`LIMIT`).
    pub fn limit(&self) -> i64 {
        self.per_page
    }

    /// Number of pages for `total` rows (at least 1).
    pub fn pages(&self, total: i64) -> i64 {
        ((total + self.per_page - 1) / self.per_page).max(1)
    }
}

fn number(raw: Option<&str>, field: &'static str, default: i64, min: i64, max: i64) -> Result<i64, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(AppError::InvalidParam {
                name: field,
                message_key: if field == "per_page" { "param.per_page_invalid" } else { "param.page_invalid" },
            }),
        },
    }
}

/// One page of a list, as every list endpoint answers it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Rows matching the filters, over all pages.
    pub total: i64,
    /// This page's number (1-based).
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

impl<T> Page<T> {
    /// Wraps the rows of `paging`'s page.
    pub fn new(items: Vec<T>, total: i64, paging: Paging) -> Self {
        Self { items, total, page: paging.page, per_page: paging.per_page }
    }

    /// Number of pages (at least 1).
    pub fn pages(&self) -> i64 {
        Paging { page: self.page, per_page: self.per_page }.pages(self.total)
    }

    /// Whether a later page exists.
    pub fn has_next(&self) -> bool {
        self.page < self.pages()
    }
}
