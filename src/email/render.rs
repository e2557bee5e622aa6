//! The email templates of `emails/`: what each kind of email contains, and rendering
//! it to a subject, an HTML part and a plain-text part in the customer's language.
//!
//! Every value that comes from a customer, a staff member or a model is escaped in the
//! HTML part by askama; the plain-text part needs no escaping. Subjects and body lines
//! lose control characters, so nothing can break out into a header.

use askama::Template;
use serde::{Deserialize, Serialize};

use crate::agents::summary::CallSummary;
use crate::i18n::{Lang, Tr};
use crate::text::one_line;

/// Longest subject topic (characters).
pub const MAX_TOPIC: usize = 150;
/// Longest free-text body (characters).
pub const MAX_BODY: usize = 10_000;

/// What an email says, by kind (stored as JSON with the outbox row).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    /// A call summary.
    Summary(CallSummary),
    /// Information the customer asked for.
    Information {
        /// What it is about (goes in the subject).
        topic: String,
        /// The information.
        body: String,
    },
    /// A follow-up on an earlier call.
    FollowUp {
        /// What it is about (goes in the subject).
        topic: String,
        /// The message.
        body: String,
    },
}

impl Content {
    /// Stored kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Summary(_) => "summary",
            Self::Information { .. } => "information",
            Self::FollowUp { .. } => "follow_up",
        }
    }
}

/// A rendered email.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Subject line (one line, no control characters).
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
}

/// Who the email greets and which call it refers to.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Language of the email.
    pub lang: Lang,
    /// The customer's name.
    pub name: String,
    /// The call it is about, if any.
    pub call_id: Option<i64>,
}

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryHtml<'a> {
    tr: Tr,
    subject: &'a str,
    name: &'a str,
    call_ref: Option<String>,
    summary: &'a CallSummary,
}

#[derive(Template)]
#[template(path = "summary.txt")]
struct SummaryText<'a> {
    tr: Tr,
    name: &'a str,
    call_ref: Option<String>,
    summary: &'a CallSummary,
}

#[derive(Template)]
#[template(path = "information.html")]
struct InformationHtml<'a> {
    tr: Tr,
    subject: &'a str,
    name: &'a str,
    call_ref: Option<String>,
    topic: &'a str,
    paragraphs: Vec<Vec<&'a str>>,
}

#[derive(Template)]
#[template(path = "information.txt")]
struct InformationText<'a> {
    tr: Tr,
    name: &'a str,
    call_ref: Option<String>,
    topic: &'a str,
    paragraphs: Vec<Vec<&'a str>>,
}

#[derive(Template)]
#[template(path = "follow_up.html")]
struct FollowUpHtml<'a> {
    tr: Tr,
    subject: &'a str,
    name: &'a str,
    call_ref: Option<String>,
    topic: &'a str,
    paragraphs: Vec<Vec<&'a str>>,
}

#[derive(Template)]
#[template(path = "follow_up.txt")]
struct FollowUpText<'a> {
    tr: Tr,
    name: &'a str,
    call_ref: Option<String>,
    topic: &'a str,
    paragraphs: Vec<Vec<&'a str>>,
}

/// Paragraphs (split on blank lines) of lines, without control characters.
fn paragraphs(body: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in body.lines() {
        let line = line.trim_matches(|c: char| c.is_whitespace() || c.is_control());
        if line.is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Renders `content` for the customer in `frame`.
pub fn render(frame: &Frame, content: &Content) -> Result<Rendered, askama::Error> {
    let tr = Tr(frame.lang);
    let name = one_line(&frame.name, 120);
    let name = name.as_str();
    let call_ref = frame.call_id.map(|id| tr.fill("email.call_ref", &[("id", &id.to_string())]));
    let (subject, html, text) = match content {
        Content::Summary(summary) => {
            let subject = match frame.call_id {
                Some(id) => tr.fill("email.summary.subject", &[("id", &id.to_string())]),
                None => tr.t("email.summary.subject_plain").to_owned(),
            };
            let html = SummaryHtml { tr, subject: &subject, name, call_ref: call_ref.clone(), summary }.render()?;
            let text = SummaryText { tr, name, call_ref, summary }.render()?;
            (subject, html, text)
        }
        Content::Information { topic, body } => {
            let topic = one_line(topic, MAX_TOPIC);
            let subject = tr.fill("email.information.subject", &[("topic", &topic)]);
            let (t, p) = (topic.as_str(), paragraphs(body));
            let html = InformationHtml {
                tr,
                subject: &subject,
                name,
                call_ref: call_ref.clone(),
                topic: t,
                paragraphs: p.clone(),
            }
            .render()?;
            let text = InformationText { tr, name, call_ref, topic: t, paragraphs: p }.render()?;
            (subject, html, text)
        }
        Content::FollowUp { topic, body } => {
            let topic = one_line(topic, MAX_TOPIC);
            let subject = tr.fill("email.follow_up.subject", &[("topic", &topic)]);
            let (t, p) = (topic.as_str(), paragraphs(body));
            let html = FollowUpHtml {
                tr,
                subject: &subject,
                name,
                call_ref: call_ref.clone(),
                topic: t,
                paragraphs: p.clone(),
            }
            .render()?;
            let text = FollowUpText { tr, name, call_ref, topic: t, paragraphs: p }.render()?;
            (subject, html, text)
        }
    };
    Ok(Rendered { subject: one_line(&subject, 250), html, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(lang: Lang) -> Frame {
        Frame { lang, name: "Ana <b>García</b>".into(), call_id: Some(12) }
    }

    #[test]
    fn summaries_render_in_both_languages_with_every_value_escaped() {
        let summary = CallSummary {
            issue: "Cobro <script>alert(1)</script> duplicado".into(),
            actions: vec!["Revisamos tus pagos & \"cargos\"".into()],
            references: vec!["Incidencia #7".into()],
            next_steps: vec!["Nada más".into()],
        };
        let es = render(&frame(Lang::Es), &Content::Summary(summary.clone())).unwrap();
        assert_eq!(es.subject, "Resumen de tu llamada #12");
        assert!(es.html.contains("&#60;script&#62;") && !es.html.contains("<script>"), "{}", es.html);
        assert!(es.html.contains("Ana &#60;b&#62;García") && !es.html.contains("<b>García"));
        assert!(es.html.contains("Qué hicimos") && es.html.contains("Incidencia #7"));
        assert!(es.text.contains("<script>alert(1)</script>"), "the text part is plain text: {}", es.text);
        assert!(es.text.contains("- Revisamos tus pagos & \"cargos\""));
        let en = render(&frame(Lang::En), &Content::Summary(summary)).unwrap();
        assert_eq!(en.subject, "Summary of your call #12");
        assert!(en.html.contains("What we did") && en.text.contains("Next steps"));
        assert!(!en.html.contains("src=\"http"), "no external images");
    }

    #[test]
    fn free_text_keeps_paragraphs_and_subjects_stay_on_one_line() {
        let content = Content::Information {
            topic: "Horario\r\nBcc: evil@example.com".into(),
            body: "Abrimos de 9 a 18.\nSábados de 10 a 14.\n\n<i>Gracias</i>".into(),
        };
        let r = render(&frame(Lang::Es), &content).unwrap();
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
        assert!(r.subject.contains("Horario Bcc: evil@example.com"));
        assert!(r.html.contains("Abrimos de 9 a 18.<br>Sábados de 10 a 14."), "{}", r.html);
        assert!(r.html.contains("&#60;i&#62;Gracias"));
        assert!(r.text.contains("Abrimos de 9 a 18.\nSábados de 10 a 14.\n\n<i>Gracias</i>"), "{}", r.text);
        let f = render(&frame(Lang::En), &Content::FollowUp { topic: "Your router".into(), body: "Fixed.".into() })
            .unwrap();
        assert_eq!(f.subject, "Following up: Your router");
    }
}
