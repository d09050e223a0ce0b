//! The dependency graph as an SVG picture, drawn by the daemon from the graph's start levels:
//! one column per level (what nothing else needs first, on the left), each service a box, an
//! arrow from a service to each service it depends on. Pure: the layout and the markup are
//! tested here. The page colours each box by the service's status through its classes and
//! writes the status in words inside it, so the colour is never the only sign.

use std::fmt::Write;

const NODE_HEIGHT: u32 = 46;
const COLUMN_GAP: u32 = 56;
const ROW_GAP: u32 = 14;
const MARGIN: u32 = 8;
/// About one character of the 13 px sans-serif name.
const CHAR_WIDTH: u32 = 8;
const MIN_NODE_WIDTH: u32 = 112;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub x: u32,
    pub y: u32,
}

/// Where each box goes, and the edges between them (indexes into `nodes`, from the dependent
/// to its dependency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub nodes: Vec<Node>,
    pub edges: Vec<(usize, usize)>,
    pub node_width: u32,
    pub width: u32,
    pub height: u32,
}

/// Places the services: `levels` as the graph's `start_levels` gives them, `dependencies` what
/// each one depends on directly.
pub fn layout<'a>(levels: &[Vec<&'a str>], dependencies: impl Fn(&str) -> Vec<&'a str>) -> Layout {
    let longest = levels.iter().flatten().map(|n| n.chars().count()).max();
    let node_width = (longest.unwrap_or(0) as u32 * CHAR_WIDTH + 24).max(MIN_NODE_WIDTH);
    let mut nodes = Vec::new();
    for (column, level) in levels.iter().enumerate() {
        for (row, name) in level.iter().enumerate() {
            nodes.push(Node {
                name: name.to_string(),
                x: MARGIN + column as u32 * (node_width + COLUMN_GAP),
                y: MARGIN + row as u32 * (NODE_HEIGHT + ROW_GAP),
            });
        }
    }
    let index = |name: &str| nodes.iter().position(|n| n.name == name);
    let mut edges = Vec::new();
    for (from, node) in nodes.iter().enumerate() {
        for dep in dependencies(&node.name) {
            if let Some(to) = index(dep) {
                edges.push((from, to));
            }
        }
    }
    let columns = levels.len() as u32;
    let rows = levels.iter().map(Vec::len).max().unwrap_or(0) as u32;
    Layout {
        width: 2 * MARGIN + columns * node_width + columns.saturating_sub(1) * COLUMN_GAP,
        height: 2 * MARGIN + rows * NODE_HEIGHT + rows.saturating_sub(1) * ROW_GAP,
        nodes,
        edges,
        node_width,
    }
}

/// The SVG markup. Each box is `<g class="node" data-service="NAME">` holding the name and
/// a `state` text the page fills in; the description says every dependency in words.
pub fn render(layout: &Layout) -> String {
    let (w, h) = (layout.width.max(1), layout.height.max(1));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="graph-title graph-desc">"#
    );
    svg.push_str(r#"<title id="graph-title">Dependency graph</title><desc id="graph-desc">"#);
    let mut said = Vec::new();
    for node in &layout.nodes {
        let deps: Vec<&str> = layout
            .edges
            .iter()
            .filter(|(from, _)| layout.nodes[*from].name == node.name)
            .map(|(_, to)| layout.nodes[*to].name.as_str())
            .collect();
        said.push(if deps.is_empty() {
            format!("{} depends on nothing.", node.name)
        } else {
            format!("{} depends on {}.", node.name, deps.join(", "))
        });
    }
    svg.push_str(&escape(&said.join(" ")));
    svg.push_str("</desc>");
    svg.push_str(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow"/></marker></defs>"#,
    );
    let half = NODE_HEIGHT / 2;
    for &(from, to) in &layout.edges {
        // From the dependent's left side to its dependency's right side (columns run left to
        // right by level, so a dependency is always to the left).
        let (a, b) = (&layout.nodes[from], &layout.nodes[to]);
        let (x1, y1) = (a.x, a.y + half);
        let (x2, y2) = (b.x + layout.node_width, b.y + half);
        let bend = (x1.saturating_sub(x2)) / 2;
        let _ = write!(
            svg,
            r#"<path class="edge" d="M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}" marker-end="url(#arrow)"/>"#,
            x1.saturating_sub(bend),
            x2 + bend,
        );
    }
    for node in &layout.nodes {
        let name = escape(&node.name);
        let _ = write!(
            svg,
            r#"<g class="node" data-service="{name}" transform="translate({},{})"><rect width="{}" height="{NODE_HEIGHT}" rx="6"/><text class="name" x="10" y="19">{name}</text><text class="state" x="10" y="37">…</text></g>"#,
            node.x, node.y, layout.node_width,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Text and attribute values of XML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(name: &str) -> Vec<&'static str> {
        match name {
            "api" => vec!["db", "cache"],
            "web" => vec!["api"],
            _ => vec![],
        }
    }

    #[test]
    fn levels_are_columns_and_every_dependency_an_edge_pointing_left() {
        let levels = vec![vec!["db", "cache"], vec!["api"], vec!["web"]];
        let l = layout(&levels, deps);
        let names: Vec<&str> = l.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["db", "cache", "api", "web"]);
        assert_eq!(l.node_width, MIN_NODE_WIDTH);
        // db and cache share the first column, one above the other.
        assert_eq!((l.nodes[0].x, l.nodes[1].x), (MARGIN, MARGIN));
        assert!(l.nodes[1].y >= l.nodes[0].y + NODE_HEIGHT);
        assert_eq!(l.edges, [(2, 0), (2, 1), (3, 2)]);
        for &(from, to) in &l.edges {
            assert!(l.nodes[to].x + l.node_width < l.nodes[from].x);
        }
        // Everything fits in the picture.
        for n in &l.nodes {
            assert!(n.x + l.node_width <= l.width && n.y + NODE_HEIGHT <= l.height);
        }
    }

    #[test]
    fn long_names_widen_the_boxes() {
        let long = "a-service-with-a-rather-long-name";
        let l = layout(&[vec![long]], |_| vec![]);
        assert!(l.node_width >= long.len() as u32 * CHAR_WIDTH);
    }

    #[test]
    fn the_markup_escapes_names_and_says_the_dependencies_in_words() {
        let levels = vec![vec!["db"], vec!["a<b>&\"c"]];
        let l = layout(&levels, |n| if n == "db" { vec![] } else { vec!["db"] });
        let svg = render(&l);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(
            svg.contains(r#"data-service="a&lt;b&gt;&amp;&quot;c""#),
            "{svg}"
        );
        assert!(!svg.contains("a<b>"));
        assert!(
            svg.contains("a&lt;b&gt;&amp;&quot;c depends on db."),
            "{svg}"
        );
        assert!(svg.contains("db depends on nothing."));
        assert_eq!(svg.matches(r#"class="edge""#).count(), 1);
        assert_eq!(svg.matches(r#"class="node""#).count(), 2);
    }

    #[test]
    fn an_empty_config_draws_an_empty_picture() {
        let svg = render(&layout(&[], |_| vec![]));
        assert!(svg.contains(r#"width="16""#) && !svg.contains("class=\"node\""));
    }
}
