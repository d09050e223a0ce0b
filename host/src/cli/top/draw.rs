//! How the dashboard looks: a table of the services by category, the selected service's log,
//! and a line of keys or of the last outcome. Every state has a word beside its colour, and
//! `NO_COLOR` turns the colours off.

use keel_api::{HealthState, ServiceView, Status};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};

use super::app::{App, Mode};
use crate::cli::fmt::uptime_secs;

fn colour(c: Color) -> Style {
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        Style::default()
    } else {
        Style::default().fg(c)
    }
}

fn status_style(s: Status) -> Style {
    match s {
        Status::Running => colour(Color::Green),
        Status::Failed => colour(Color::Red),
        Status::Stopped => colour(Color::DarkGray),
        _ => colour(Color::Yellow),
    }
}

/// The health column: its state in a word, then the last check's message.
fn health(v: &ServiceView) -> (String, Style) {
    let Some(h) = &v.live.health else {
        return match (v.health_check.is_some(), v.live.status) {
            (_, s) if s != Status::Running => ("-".into(), Style::default()),
            (false, _) => ("no check".into(), Style::default()),
            (true, _) => ("-".into(), Style::default()),
        };
    };
    let (word, style) = match h.state {
        HealthState::Healthy => ("healthy", colour(Color::Green)),
        HealthState::Unhealthy => ("unhealthy", colour(Color::Red)),
        HealthState::Starting => ("starting", colour(Color::Yellow)),
    };
    let message = h.last.as_ref().map(|l| l.message.as_str()).unwrap_or("");
    (format!("{word} {message}").trim_end().to_string(), style)
}

fn uptime(v: &ServiceView) -> String {
    match (v.live.status, uptime_secs(v.live.started_at_ms)) {
        (Status::Running, Some(s)) if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        (Status::Running, Some(s)) if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        (Status::Running, Some(s)) => format!("{s}s"),
        _ => "-".into(),
    }
}

pub fn draw(frame: &mut Frame, app: &App) {
    let [head, table, log, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(8),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    let visible = app.visible();
    let running = app
        .services
        .iter()
        .filter(|s| s.live.status == Status::Running)
        .count();
    let filter = match (&app.mode, app.filter.is_empty()) {
        (Mode::Filter, _) => format!("  filter: {}_", app.filter),
        (_, false) => format!("  filter: {}", app.filter),
        _ => String::new(),
    };
    frame.render_widget(
        Paragraph::new(format!(
            "keel top: {running}/{} running{filter}",
            app.services.len()
        ))
        .style(Style::default().add_modifier(Modifier::BOLD)),
        head,
    );

    let mut rows = Vec::new();
    let mut selected_row = None;
    let mut category = None;
    for v in &visible {
        if category != Some(&v.category) {
            category = Some(&v.category);
            rows.push(
                Row::new([Cell::from(format!("[{}]", v.category))])
                    .style(Style::default().add_modifier(Modifier::DIM)),
            );
        }
        if app.selected.as_ref() == Some(&v.live.name) {
            selected_row = Some(rows.len());
        }
        let (health, health_style) = health(v);
        rows.push(Row::new([
            Cell::from(v.live.name.clone()),
            Cell::from(v.live.status.to_string()).style(status_style(v.live.status)),
            Cell::from(health).style(health_style),
            Cell::from(uptime(v)),
            Cell::from(v.live.restarts.to_string()),
            Cell::from(v.deployment_mode.clone()),
        ]));
    }
    let widths = [
        Constraint::Length(18),
        Constraint::Length(10),
        Constraint::Fill(1),
        Constraint::Length(7),
        Constraint::Length(3),
        Constraint::Length(8),
    ];
    let header = Row::new(["SERVICE", "STATUS", "HEALTH", "UPTIME", "RST", "MODE"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let mut state = TableState::default().with_selected(selected_row);
    frame.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
            .highlight_symbol("> "),
        table,
        &mut state,
    );

    let title = match &app.selected {
        Some(s) => format!(" log: {s} "),
        None => " log ".into(),
    };
    let shown = log.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = app
        .log
        .iter()
        .skip(app.log.len().saturating_sub(shown))
        .map(|l| Line::from(l.as_str()))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        log,
    );

    let footer = match &app.mode {
        Mode::Confirm {
            service,
            dependents,
        } => Line::from(vec![Span::styled(
            format!(
                "{service}: dependents running ({}). Stop anyway? y/n",
                dependents.join(", ")
            ),
            colour(Color::Yellow),
        )]),
        Mode::Filter => Line::from("type to filter, Enter to keep, Esc to clear"),
        _ => Line::from(app.message.as_str()),
    };
    frame.render_widget(Paragraph::new(footer), foot);

    if app.mode == Mode::Help {
        let area = frame.area().inner(ratatui::layout::Margin::new(6, 4));
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(HELP)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" keys ")),
            area,
        );
    }
}

const HELP: &str = "\
up/down, j/k  select a service (its log follows below)
s             start it (with its dependencies)
x             stop it (asks first if dependents run)
r             restart it
/             filter by name or category
?             this help
q, Esc        quit

any key closes this help";
