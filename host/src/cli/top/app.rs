//! The dashboard's state and what a key does to it: pure, so that it is tested without a
//! terminal. The loop (`mod.rs`) feeds it events and keys and carries out the actions it asks
//! for; `draw.rs` renders it.

use std::collections::VecDeque;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keel_api::{Event, ServiceView, Snapshot};

/// Lines of the selected service's log kept for the log pane.
pub const LOG_LINES: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a filter after `/`.
    Filter,
    Help,
    /// A stop refused because these dependents run: `y` stops anyway.
    Confirm {
        service: String,
        dependents: Vec<String>,
    },
}

/// What the loop is asked to do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    Start(String),
    Stop {
        service: String,
        force: bool,
    },
    Restart(String),
    /// Another service is selected: follow its log instead.
    Follow(String),
}

pub struct App {
    /// Every service, in config order.
    pub services: Vec<ServiceView>,
    /// The selected service's name.
    pub selected: Option<String>,
    pub filter: String,
    pub mode: Mode,
    pub log: VecDeque<String>,
    /// The last action's outcome, in words.
    pub message: String,
}

impl App {
    pub fn new(services: Vec<ServiceView>) -> Self {
        let mut app = Self {
            selected: None,
            services,
            filter: String::new(),
            mode: Mode::Normal,
            log: VecDeque::new(),
            message: "? for help".into(),
        };
        app.selected = app.visible().first().map(|s| s.live.name.clone());
        app
    }

    /// The services the filter lets through, grouped by category (in the order categories
    /// first appear), each group in config order.
    pub fn visible(&self) -> Vec<&ServiceView> {
        let needle = self.filter.to_lowercase();
        let shown: Vec<&ServiceView> = self
            .services
            .iter()
            .filter(|s| {
                needle.is_empty()
                    || s.live.name.to_lowercase().contains(&needle)
                    || s.category.to_lowercase().contains(&needle)
            })
            .collect();
        let mut categories: Vec<&str> = Vec::new();
        for s in &shown {
            if !categories.contains(&s.category.as_str()) {
                categories.push(&s.category);
            }
        }
        categories
            .iter()
            .flat_map(|c| shown.iter().copied().filter(move |s| s.category == *c))
            .collect()
    }

    /// Takes in one event of the stream; true when the screen changes.
    pub fn apply(&mut self, event: Event) -> bool {
        match event {
            Event::Snapshot { services } => {
                for snap in services {
                    self.update(snap);
                }
                true
            }
            Event::Changed(snap) => self.update(snap),
            Event::Health {
                service, report, ..
            } => {
                let Some(s) = self.services.iter_mut().find(|s| s.live.name == service) else {
                    return false;
                };
                let Some(h) = s.live.health.as_mut() else {
                    return false;
                };
                let changed = h.last.as_ref().map(|l| &l.message) != Some(&report.message);
                h.last = Some(report);
                changed
            }
            Event::Hook { .. } | Event::Lagged { .. } => false,
        }
    }

    fn update(&mut self, snap: Snapshot) -> bool {
        match self.services.iter_mut().find(|s| s.live.name == snap.name) {
            Some(s) if s.live != snap => {
                s.live = snap;
                true
            }
            _ => false,
        }
    }

    pub fn push_log(&mut self, line: String) {
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    /// What `key` does.
    pub fn key(&mut self, key: KeyEvent) -> Action {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        match self.mode.clone() {
            Mode::Help => {
                self.mode = Mode::Normal;
                Action::None
            }
            Mode::Filter => match key.code {
                KeyCode::Enter | KeyCode::Esc => {
                    if key.code == KeyCode::Esc {
                        self.filter.clear();
                    }
                    self.mode = Mode::Normal;
                    self.reselect()
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                    self.reselect()
                }
                KeyCode::Char(c) => {
                    self.filter.push(c);
                    self.reselect()
                }
                _ => Action::None,
            },
            Mode::Confirm { service, .. } => {
                self.mode = Mode::Normal;
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    Action::Stop {
                        service,
                        force: true,
                    }
                } else {
                    self.message = format!("{service} left running");
                    Action::None
                }
            }
            Mode::Normal => self.normal_key(key.code),
        }
    }

    fn normal_key(&mut self, code: KeyCode) -> Action {
        let selected = self.selected.clone();
        match code {
            KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
            KeyCode::Char('?') => {
                self.mode = Mode::Help;
                Action::None
            }
            KeyCode::Char('/') => {
                self.mode = Mode::Filter;
                Action::None
            }
            KeyCode::Down | KeyCode::Char('j') => self.step(1),
            KeyCode::Up | KeyCode::Char('k') => self.step(-1),
            KeyCode::Char('s') => selected.map_or(Action::None, Action::Start),
            KeyCode::Char('x') => selected.map_or(Action::None, |service| Action::Stop {
                service,
                force: false,
            }),
            KeyCode::Char('r') => selected.map_or(Action::None, Action::Restart),
            _ => Action::None,
        }
    }

    fn step(&mut self, by: isize) -> Action {
        let names: Vec<String> = self.visible().iter().map(|s| s.live.name.clone()).collect();
        if names.is_empty() {
            return Action::None;
        }
        let at = self
            .selected
            .as_ref()
            .and_then(|s| names.iter().position(|n| n == s))
            .unwrap_or(0) as isize;
        let next = (at + by).clamp(0, names.len() as isize - 1) as usize;
        self.select(names[next].clone())
    }

    /// Keeps the selection inside what the filter shows.
    fn reselect(&mut self) -> Action {
        let names: Vec<String> = self.visible().iter().map(|s| s.live.name.clone()).collect();
        match &self.selected {
            Some(s) if names.contains(s) => Action::None,
            _ => match names.first() {
                Some(n) => self.select(n.clone()),
                None => Action::None,
            },
        }
    }

    fn select(&mut self, name: String) -> Action {
        if self.selected.as_ref() == Some(&name) {
            return Action::None;
        }
        self.selected = Some(name.clone());
        self.log.clear();
        Action::Follow(name)
    }

    /// A stop was refused because `dependents` run: ask before forcing it.
    pub fn confirm_stop(&mut self, service: String, dependents: Vec<String>) {
        self.mode = Mode::Confirm {
            service,
            dependents,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_api::Status;

    fn view(name: &str, category: &str) -> ServiceView {
        ServiceView {
            service_type: "platform".into(),
            category: category.into(),
            description: String::new(),
            deployment_mode: "binary".into(),
            auto_start: true,
            dependencies: vec![],
            health_check: None,
            live: Snapshot::stopped(name),
        }
    }

    fn press(app: &mut App, code: KeyCode) -> Action {
        app.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn services_are_grouped_by_category_and_the_keys_act_on_the_selected_one() {
        let mut app = App::new(vec![view("a", "core"), view("b", "ui"), view("c", "core")]);
        let order: Vec<_> = app.visible().iter().map(|s| s.live.name.clone()).collect();
        assert_eq!(order, ["a", "c", "b"]);
        assert_eq!(press(&mut app, KeyCode::Down), Action::Follow("c".into()));
        assert_eq!(
            press(&mut app, KeyCode::Char('r')),
            Action::Restart("c".into())
        );
        assert_eq!(
            press(&mut app, KeyCode::Char('x')),
            Action::Stop {
                service: "c".into(),
                force: false
            }
        );
        // A refused stop asks first; anything but `y` leaves it running.
        app.confirm_stop("c".into(), vec!["b".into()]);
        assert_eq!(press(&mut app, KeyCode::Char('n')), Action::None);
        app.confirm_stop("c".into(), vec!["b".into()]);
        assert_eq!(
            press(&mut app, KeyCode::Char('y')),
            Action::Stop {
                service: "c".into(),
                force: true
            }
        );
        assert_eq!(press(&mut app, KeyCode::Char('q')), Action::Quit);
    }

    #[test]
    fn the_filter_narrows_the_list_and_moves_the_selection_into_it() {
        let mut app = App::new(vec![view("api", "core"), view("web", "ui")]);
        press(&mut app, KeyCode::Char('/'));
        assert_eq!(
            press(&mut app, KeyCode::Char('w')),
            Action::Follow("web".into())
        );
        assert_eq!(app.visible().len(), 1);
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.visible().len(), 2);
    }

    #[test]
    fn only_real_changes_ask_for_a_redraw() {
        let mut app = App::new(vec![view("a", "core")]);
        let mut snap = Snapshot::stopped("a");
        assert!(!app.apply(Event::Changed(snap.clone())));
        snap.status = Status::Running;
        assert!(app.apply(Event::Changed(snap)));
    }
}
