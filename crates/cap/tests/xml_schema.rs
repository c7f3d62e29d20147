//! Reading CAP XML: the schema-level checks, each problem with its element path.

use kizuna_cap::*;

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">"#;

/// A minimal valid message; `{info}` is replaced by the given info content.
fn msg(alert_tail: &str, info: &str) -> String {
    format!(
        "{HEAD}
  <identifier>id-1</identifier>
  <sender>s@example</sender>
  <sent>2026-07-14T09:30:00+09:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>{alert_tail}
  <info>
    <category>Safety</category>
    <event>E</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>{info}
  </info>
</alert>"
    )
}

fn problems(xml: &str) -> Problems {
    match parse(xml) {
        Ok(a) => panic!("expected problems, parsed {a:?}"),
        Err(p) => p,
    }
}

fn has(p: &Problems, path: &str, needle: &str) {
    assert!(
        p.iter().any(|x| x.path == path && x.message.contains(needle)),
        "no problem at {path} containing {needle:?} in: {p}"
    );
}

#[test]
fn minimal_message_parses() {
    let a = parse(&msg("", "")).expect("valid");
    assert_eq!(a.identifier, "id-1");
    assert_eq!(a.info[0].event, "E");
    assert_eq!(a.info[0].language_or_default(), "en-US");
}

#[test]
fn unknown_element_in_cap_namespace_is_named() {
    let p = problems(&msg("", "\n    <colour>red</colour>"));
    has(&p, "alert/info[0]/colour", "not a CAP 1.2 element");
}

#[test]
fn element_out_of_schema_order_is_named() {
    let xml = msg("", "").replace(
        "<urgency>Immediate</urgency>\n    <severity>Severe</severity>",
        "<severity>Severe</severity>\n    <urgency>Immediate</urgency>",
    );
    let p = problems(&xml);
    has(&p, "alert/info[0]/urgency", "out of order: it must come before <severity>");
}

#[test]
fn missing_required_elements_are_all_named() {
    let xml = msg("", "").replace("<sender>s@example</sender>", "").replace("<event>E</event>", "");
    let p = problems(&xml);
    has(&p, "alert/sender", "required element <sender> is missing");
    has(&p, "alert/info[0]/event", "required element <event> is missing");
}

#[test]
fn repeated_singleton_is_refused() {
    let p = problems(&msg("\n  <note>a</note>\n  <note>b</note>", ""));
    has(&p, "alert/note", "only once");
}

#[test]
fn bad_code_values_are_all_reported() {
    let xml = msg("", "")
        .replace("<status>Actual</status>", "<status>Real</status>")
        .replace("<certainty>Likely</certainty>", "<certainty>Sure</certainty>");
    let p = problems(&xml);
    has(&p, "alert/status", "'Real' is not one of Actual, Exercise, System, Test, Draft");
    has(&p, "alert/info[0]/certainty", "'Sure' is not one of");
    assert_eq!(p.len(), 2, "{p}");
}

#[test]
fn date_times_follow_the_cap_rule() {
    for bad in [
        "2026-07-14T00:30:00Z",
        "2026-07-14T09:30:00.5+09:00",
        "2026-07-14T09:30:00",
        "2026-07-14 09:30:00+09:00",
        "2026-02-30T09:30:00+09:00",
        "2026-07-14T09:30:00+15:00",
    ] {
        let xml = msg("", "").replace("2026-07-14T09:30:00+09:00", bad);
        let p = problems(&xml);
        assert!(p.at("alert/sent").is_some(), "{bad} accepted: {p}");
    }
    // UTC may arrive as +00:00 but is written -00:00.
    let a = parse(&msg("", "").replace("2026-07-14T09:30:00+09:00", "2026-07-14T00:30:00+00:00")).expect("valid");
    assert_eq!(a.sent.to_string(), "2026-07-14T00:30:00-00:00");
    assert!(to_xml(&a).contains("<sent>2026-07-14T00:30:00-00:00</sent>"));
    assert_eq!(parse(&to_xml(&a)).expect("re-read"), a);
}

#[test]
fn polygon_closure_is_reported_with_its_path() {
    let area = "\n    <area>\n      <areaDesc>A</areaDesc>\n      <polygon>36.0,139.0 36.1,139.0 36.1,139.1 36.0,139.1</polygon>\n    </area>";
    // The problem is in the second info block.
    let xml = msg("", "").replace(
        "</info>\n</alert>",
        &format!("</info>\n  <info>\n    <category>Safety</category>\n    <event>E</event>\n    <urgency>Immediate</urgency>\n    <severity>Severe</severity>\n    <certainty>Likely</certainty>{area}\n  </info>\n</alert>"),
    );
    let p = problems(&xml);
    has(&p, "alert/info[1]/area[0]/polygon[0]", "first and last points differ");
    // The schema-level reader alone accepts it: closure is a rule beyond the schema.
    assert!(from_xml(&xml).is_ok());
}

#[test]
fn malformed_coordinates_are_schema_errors() {
    let area = "\n    <area>\n      <areaDesc>A</areaDesc>\n      <polygon>36.0;139.0 x</polygon>\n      <circle>36.0,139.0</circle>\n      <altitude>1e3</altitude>\n    </area>";
    let p = problems(&msg("", area));
    has(&p, "alert/info[0]/area[0]/polygon[0]", "not a lat,lon pair");
    has(&p, "alert/info[0]/area[0]/circle[0]", "is not 'lat,lon radius'");
    has(&p, "alert/info[0]/area[0]/altitude", "not a decimal number");
}

#[test]
fn root_and_namespace_are_checked() {
    let p = problems("<alert><identifier>x</identifier></alert>");
    has(&p, "alert", "in no namespace");
    let p = problems(r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>"#);
    has(&p, "alert", "urn:oasis:names:tc:emergency:cap:1.1");
    let p = problems(r#"<x:info xmlns:x="urn:oasis:names:tc:emergency:cap:1.2"/>"#);
    has(&p, "alert", "root element must be <alert>");
    // A CAP element in no namespace inside a CAP alert.
    let xml = msg("", "").replace("<scope>Public</scope>", "<scope>Public</scope><note xmlns=\"\">n</note>");
    has(&problems(&xml), "alert/note", "not in the CAP 1.2 namespace");
}

#[test]
fn prefixed_namespace_is_fine() {
    let xml = msg("", "").replace("<alert xmlns=", "<cap:alert xmlns:cap=").replace("</alert>", "</cap:alert>");
    // Children are then unqualified: every one is refused.
    let p = problems(&xml);
    has(&p, "alert/identifier", "not in the CAP 1.2 namespace");
    // Qualified throughout is accepted.
    let q = r#"<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2"><cap:identifier>i</cap:identifier><cap:sender>s</cap:sender><cap:sent>2026-07-14T09:30:00+09:00</cap:sent><cap:status>Test</cap:status><cap:msgType>Cancel</cap:msgType><cap:scope>Public</cap:scope><cap:references>s,h,2026-07-14T09:00:00+09:00</cap:references></cap:alert>"#;
    let a = parse(q).expect("valid");
    assert_eq!(a.msg_type, MsgType::Cancel);
    assert!(a.info.is_empty());
}

#[test]
fn unsafe_or_odd_xml_is_refused() {
    let doctype = format!(
        "<!DOCTYPE alert [<!ENTITY x \"y\">]>{}",
        msg("", "").trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    );
    has(&problems(&doctype), "alert", "DOCTYPE");
    has(&problems(&msg("\n  <note>&x;</note>", "")), "alert", "unknown entity &x;");
    has(&problems(&msg("\n  <note>&#1;</note>", "")), "alert", "U+0001");
    has(&problems(&msg("", "").replace("<status>", "<status id=\"1\">")), "alert/status", "attribute 'id'");
    has(&problems(&format!("{}<alert/>", msg("", ""))), "alert", "more than one root");
    has(&problems("not xml"), "alert", "outside the root");
    let full = msg("", "");
    let cut = full.find("</info>").expect("info end");
    has(&problems(&full[..cut]), "alert", "ends inside <info>");
    has(&problems(&full[..200]), "alert", "not well-formed XML");
    let deep = format!("{HEAD}{}{}</alert>", "<note>".repeat(40), "</note>".repeat(40));
    has(&problems(&deep), "alert", "nested deeper");
    has(&problems(&msg("", "").replace("<info>", "<info>oops")), "alert/info[0]", "text is not allowed");
    has(
        &problems(&msg("", "").replace("<event>E</event>", "<event>E<b/></event>")),
        "alert/info[0]/event",
        "text only",
    );
}

#[test]
fn xsi_attributes_and_signatures_are_tolerated() {
    let xml = msg("", "")
        .replace("<alert xmlns=", "<alert xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"urn:oasis:names:tc:emergency:cap:1.2 CAP-v1.2.xsd\" xmlns=")
        .replace("</alert>", "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo/></ds:Signature></alert>");
    let a = parse(&xml).expect("valid");
    assert!(!to_xml(&a).contains("Signature"));
    let late = xml.replace("</alert>", "<note>late</note></alert>");
    has(&problems(&late), "alert/note", "before the XML signature");
}

#[test]
fn text_is_kept_exactly_and_escaped_on_output() {
    let xml = msg(
        "\n  <note>a &lt;b&gt; &amp; c\r\nd<![CDATA[ <raw> & ]]>&#x65E5;</note>",
        "\n    <headline>  spaced  </headline>",
    );
    let a = parse(&xml).expect("valid");
    assert_eq!(a.note.as_deref(), Some("a <b> & c\nd <raw> & 日"));
    assert_eq!(a.info[0].headline.as_deref(), Some("  spaced  "));
    let mut b = a.clone();
    b.note = Some("cr\rlf\r\n<&>".into());
    let out = to_xml(&b);
    assert!(out.contains("<note>cr&#13;lf&#13;\n&lt;&amp;&gt;</note>"), "{out}");
    assert_eq!(from_xml(&out).expect("re-read"), b);
}

#[test]
fn a_byte_order_mark_is_accepted() {
    assert!(parse(&format!("\u{FEFF}{}", msg("", ""))).is_ok());
}

#[test]
fn codes_trim_surrounding_whitespace() {
    let a = parse(&msg("", "").replace("<status>Actual</status>", "<status>\n  Actual\n</status>")).expect("valid");
    assert_eq!(a.status, Status::Actual);
}

#[test]
fn output_is_in_schema_order_with_the_cap_namespace() {
    let a = kizuna_cap::samples::maebashi_evacuation_order_update();
    let out = to_xml(&a);
    assert!(out.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"
    ));
    let order = ["<identifier>", "<sender>", "<sent>", "<status>", "<msgType>", "<scope>", "<references>", "<info>"];
    let pos: Vec<usize> = order.iter().map(|t| out.find(t).unwrap_or_else(|| panic!("{t} missing"))).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    let info = [
        "<language>",
        "<category>",
        "<event>",
        "<responseType>",
        "<urgency>",
        "<severity>",
        "<certainty>",
        "<eventCode>",
        "<effective>",
        "<expires>",
        "<senderName>",
        "<headline>",
        "<description>",
        "<instruction>",
        "<web>",
        "<contact>",
        "<parameter>",
        "<area>",
    ];
    let pos: Vec<usize> = info.iter().map(|t| out.find(t).unwrap_or_else(|| panic!("{t} missing"))).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
}

#[test]
fn resource_size_must_be_a_non_negative_integer() {
    let r = "\n    <resource>\n      <resourceDesc>map</resourceDesc>\n      <mimeType>image/png</mimeType>\n      <size>-5</size>\n    </resource>";
    has(&problems(&msg("", r)), "alert/info[0]/resource[0]/size", "non-negative integer");
    let ok = r.replace("-5", "1024");
    assert_eq!(parse(&msg("", &ok)).expect("valid").info[0].resource[0].size, Some(1024));
}
