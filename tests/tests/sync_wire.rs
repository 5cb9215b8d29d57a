//! What sync costs on the wire, counted by a proxy (headers included): the targets the
//! benchmark reports, kept as tests so a regression fails the build.

use outpost_core::{Category, NewCase, Urgency};
use outpost_tests::harness::{Device, Server, city};
use outpost_tests::link::{Link, Profile};

#[test]
fn a_sync_with_nothing_new_is_one_round_trip_under_a_kilobyte_each_way() {
    let server = Server::start(&city());
    let proxy = Link::start(server.addr, Profile::NONE);
    let dir = tempfile::tempdir().unwrap();
    let d = Device::enroll(&server, &proxy.url(), dir.path(), "member-a1");
    d.store
        .flag_person_in_distress("G1", None, None, None)
        .unwrap();
    d.sync();
    proxy.reset();
    let r = d.sync();
    let (up, down) = proxy.bytes();
    assert_eq!(r.round_trips, 1);
    assert!(up < 1000 && down < 1000, "{up} B up, {down} B down");
}

#[test]
fn new_cases_cost_less_on_the_wire_than_their_raw_json() {
    let server = Server::start(&city());
    let proxy = Link::start(server.addr, Profile::NONE);
    let dir = tempfile::tempdir().unwrap();
    let writer = Device::enroll(&server, &proxy.url(), dir.path(), "member-a1");
    let reader = Device::enroll(&server, &proxy.url(), dir.path(), "member-a2");
    let mut json = 0usize;
    for i in 0..200u64 {
        let mut c = NewCase::new(
            Category::FireHazard,
            Urgency::Normal,
            &format!("飞线充电 · {}号楼", i * 7919 % 1000),
            "G1",
        );
        c.description = format!("电动车在楼道充电，编号{:016x}", i.wrapping_mul(0x9E37_79B9));
        let id = writer.store.create_case(c).unwrap();
        json += serde_json::to_vec(&writer.store.case(&id).unwrap())
            .unwrap()
            .len();
    }
    proxy.reset();
    writer.sync();
    let (up, _) = proxy.bytes();
    proxy.reset();
    let r = reader.sync();
    let (_, down) = proxy.bytes();
    assert_eq!(r.pulled_docs, 200);
    let limit = json as u64 * 3 / 2;
    assert!(up <= limit, "push {up} B for {json} B of JSON");
    assert!(down <= limit, "pull {down} B for {json} B of JSON");
}
