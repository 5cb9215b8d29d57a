//! Who may fetch and upload a photo: access follows the documents that reference it, per
//! role, and knowing a photo's hash opens nothing.

use outpost_core::sync::blobs::sha256_hex;
use outpost_core::{Category, EventKind, NewCase, Urgency};
use outpost_tests::harness::{Device, Server, city, forge_photo_reference, http};

fn jpeg(len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
    v.extend((4..len).map(|i| (i as u8).wrapping_mul(13) ^ seed));
    v
}

/// (status of GET /v1/blobs/{h}, status of GET …/status)
fn probe(server: &Server, dev: &Device, h: &str) -> (u16, u16) {
    let auth = format!("Bearer {}", dev.token());
    let get = |path: String| {
        http(
            server.addr,
            "GET",
            &path,
            &[("Authorization", auth.as_str())],
            b"",
        )
        .unwrap()
    };
    let body = get(format!("/v1/blobs/{h}"));
    if body.status == 200 {
        assert_eq!(sha256_hex(&body.body), h);
    } else {
        assert_eq!(body.error_code(), "forbidden");
    }
    (body.status, get(format!("/v1/blobs/{h}/status")).status)
}

#[test]
fn photos_are_seen_by_exactly_those_who_see_their_documents() {
    let server = Server::start(&city());
    let dir = tempfile::tempdir().unwrap();
    let d = |m: &str| Device::enroll(&server, &server.url, dir.path(), m);
    let (a1, a2, b, lead_c1, lead_b) = (
        d("member-a1"),
        d("member-a2"),
        d("member-b"),
        d("lead-c1"),
        d("lead-b"),
    );
    let (courier1, courier2, resp1, resp2, admin) = (
        d("courier-1"),
        d("courier-2"),
        d("responder-1"),
        d("responder-2"),
        d("admin"),
    );

    // A grid member's case in G1 with a photo, and a courier's own report with one.
    let f = dir.path().join("a.jpg");
    std::fs::write(&f, jpeg(150_000, 1)).unwrap();
    let case = a1
        .store
        .create_case_with_photos(
            NewCase::new(Category::FireHazard, Urgency::Urgent, "消防通道堵塞", "G1"),
            &[&f],
        )
        .unwrap();
    let h = a1.store.case(&case).unwrap().attachments[0].clone();
    assert_eq!(a1.sync().blobs_uploaded, 1);
    let g = dir.path().join("c.jpg");
    std::fs::write(&g, jpeg(90_000, 2)).unwrap();
    let report = courier1
        .store
        .create_case_with_photos(
            NewCase::new(
                Category::PersonInDistress,
                Urgency::LifeSafety,
                "老人",
                "G2",
            ),
            &[&g],
        )
        .unwrap();
    let hc = courier1.store.case(&report).unwrap().attachments[0].clone();
    assert_eq!(courier1.sync().blobs_uploaded, 1);

    let ok = (200, 200);
    let no = (403, 403);
    // The G1 case's photo: its grid, the lead above it, the admin; nobody else.
    for (dev, want) in [
        (&a1, ok),
        (&a2, ok),
        (&lead_c1, ok),
        (&admin, ok),
        (&b, no),
        (&lead_b, no),
        (&courier1, no),
        (&courier2, no),
        (&resp1, no),
        (&resp2, no),
    ] {
        assert_eq!(
            probe(&server, dev, &h),
            want,
            "{} on the G1 photo",
            dev.name
        );
    }
    // The courier's report (G2): the courier, G2's member and lead, C1's lead, the admin.
    for (dev, want) in [
        (&courier1, ok),
        (&b, ok),
        (&lead_b, ok),
        (&lead_c1, ok),
        (&admin, ok),
        (&courier2, no),
        (&a1, no),
        (&resp1, no),
    ] {
        assert_eq!(
            probe(&server, dev, &hc),
            want,
            "{} on the courier's photo",
            dev.name
        );
    }

    // Dispatching the G1 case to unit U1 opens its photo to U1's responder, not U2's.
    lead_c1.sync();
    lead_c1
        .store
        .record(
            &case,
            EventKind::Dispatched {
                unit_id: "U1".into(),
                deadline: lead_c1.store.now() + 3 * 24 * 3600 * 1000,
            },
        )
        .unwrap();
    lead_c1.sync();
    assert_eq!(probe(&server, &resp1, &h), ok);
    assert_eq!(probe(&server, &resp2, &h), no);

    // Knowing the hash opens nothing: member-b names the G1 photo on its own G2 case. The
    // reference is a claim; b cannot fetch the photo without uploading its bytes first.
    let own = b
        .store
        .create_case(NewCase::new(Category::Waste, Urgency::Low, "堆物", "G2"))
        .unwrap();
    assert!(forge_photo_reference(&server, &b, &own, &h).ok);
    let r = b.sync();
    assert!(r.refused.is_empty());
    let (get, status) = probe(&server, &b, &h);
    assert_eq!(get, 403, "a claim does not open the photo");
    assert_eq!(status, 200, "the claimant may prove it has the bytes");
    // Its G2 lead sees b's case, but the photo not through a mere claim (it too could only
    // offer the bytes: status speaks of its own proof upload).
    assert_eq!(probe(&server, &lead_b, &h), (403, 200));
    // Uploading the true bytes proves it: now b (and who sees b's case) may fetch it.
    let auth = format!("Bearer {}", b.token());
    let bytes = std::fs::read(&f).unwrap();
    let wrong = {
        let mut w = bytes.clone();
        w[1000] ^= 1;
        w
    };
    let put = |body: &[u8]| {
        http(
            server.addr,
            "PUT",
            &format!("/v1/blobs/{h}?offset=0&size={}", body.len()),
            &[("Authorization", auth.as_str())],
            body,
        )
        .unwrap()
    };
    assert_eq!(put(&wrong).error_code(), "hash_mismatch");
    assert_eq!(probe(&server, &b, &h).0, 403);
    assert_eq!(put(&bytes).status, 200);
    assert_eq!(probe(&server, &b, &h), ok);
    assert_eq!(probe(&server, &lead_b, &h), ok);

    // An unknown or revoked token gets 401; a hash no document names, 403 for everyone.
    let stranger = sha256_hex(b"never attached");
    assert_eq!(probe(&server, &admin, &stranger), no);
    let r = http(
        server.addr,
        "GET",
        &format!("/v1/blobs/{h}"),
        &[("Authorization", "Bearer 00")],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 401);
    server.admin(&["revoke", "--device", &a2.device_id()]);
    let r = http(
        server.addr,
        "GET",
        &format!("/v1/blobs/{h}"),
        &[("Authorization", &format!("Bearer {}", a2.token()))],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 401);

    // Ranges: a part of the photo, and a range past its end.
    let auth = format!("Bearer {}", a1.token());
    let r = http(
        server.addr,
        "GET",
        &format!("/v1/blobs/{h}"),
        &[("Authorization", auth.as_str()), ("Range", "bytes=100-199")],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &bytes[100..200]);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes 100-199/{}", bytes.len()).as_str())
    );
    let r = http(
        server.addr,
        "GET",
        &format!("/v1/blobs/{h}"),
        &[
            ("Authorization", auth.as_str()),
            ("Range", &format!("bytes={}-", bytes.len())),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 416);
}

/// Issue 10's photo attacks against a real server: a device that starts a photo's upload
/// with a wrong size and wrong bytes does not block the real upload; one device's unfinished
/// uploads are capped (429 `upload_quota`) and expire when left idle; offsets near
/// `u64::MAX` are refused, not wrapped.
#[test]
fn squatters_do_not_block_the_real_upload_and_unfinished_uploads_are_bounded() {
    let server = Server::start_with(
        &city(),
        &["--photo-quota-mib", "1", "--photo-idle-secs", "2"],
    );
    let dir = tempfile::tempdir().unwrap();
    let owner = Device::enroll(&server, &server.url, dir.path(), "member-a1");
    let squatter = Device::enroll(&server, &server.url, dir.path(), "member-a2");
    let real = jpeg(700_000, 5);
    let h = sha256_hex(&real);
    let (h2, h3) = (sha256_hex(b"second"), sha256_hex(b"third"));
    // The squatter learnt the hash and references it first, with two more of its own.
    let own = squatter
        .store
        .create_case(NewCase::new(Category::Waste, Urgency::Low, "堆物", "G1"))
        .unwrap();
    for x in [&h, &h2, &h3] {
        assert!(forge_photo_reference(&server, &squatter, &own, x).ok);
    }
    assert!(squatter.sync().refused.is_empty());
    let auth = format!("Bearer {}", squatter.token());
    let put = |hash: &str, offset: u64, size: u64, body: &[u8]| {
        http(
            server.addr,
            "PUT",
            &format!("/v1/blobs/{hash}?offset={offset}&size={size}"),
            &[("Authorization", auth.as_str())],
            body,
        )
        .unwrap()
    };
    let status = |hash: &str| {
        let r = http(
            server.addr,
            "GET",
            &format!("/v1/blobs/{hash}/status"),
            &[("Authorization", auth.as_str())],
            b"",
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.error_code());
        serde_json::from_slice::<outpost_core::sync::blobs::BlobStatus>(&r.body).unwrap()
    };
    let squat = jpeg(100_000, 9);
    assert_eq!(put(&h, 0, real.len() as u64 + 1, &squat).status, 200);

    // The owner attaches the real photo and syncs: its upload is its own and completes.
    let f = dir.path().join("real.jpg");
    std::fs::write(&f, &real).unwrap();
    owner
        .store
        .create_case_with_photos(
            NewCase::new(Category::FireHazard, Urgency::Urgent, "消防通道", "G1"),
            &[&f],
        )
        .unwrap();
    let r = owner.sync();
    assert_eq!(r.blobs_uploaded, 1, "{:?}", r.blobs_failed);
    assert_eq!(probe(&server, &owner, &h), (200, 200));
    // The squatter now shares the complete photo; its own upload no longer matters.
    assert!(status(&h).complete);

    // The quota: 1 MiB across one device's unfinished uploads.
    assert_eq!(put(&h2, 0, 2_000_000, &jpeg(700_000, 1)).status, 200);
    let r = put(&h3, 0, 2_000_000, &jpeg(400_000, 2));
    assert_eq!((r.status, r.error_code().as_str()), (429, "upload_quota"));
    assert!(r.header("retry-after").is_some());
    assert_eq!(status(&h3).offset, 0, "nothing stored");
    // Other devices are not touched by it.
    let g = dir.path().join("other.jpg");
    std::fs::write(&g, jpeg(300_000, 3)).unwrap();
    owner
        .store
        .create_case_with_photos(
            NewCase::new(Category::Waste, Urgency::Normal, "垃圾", "G1"),
            &[&g],
        )
        .unwrap();
    assert_eq!(owner.sync().blobs_uploaded, 1);

    // Offsets near u64::MAX are refused as a bad range, never wrapped.
    for offset in [u64::MAX, u64::MAX - 1] {
        let r = put(&h2, offset, 2_000_000, b"xy");
        assert_eq!((r.status, r.error_code().as_str()), (400, "bad_range"));
    }
    assert_eq!(status(&h2).offset, 700_000);

    // Left idle for longer than 2 s, the upload expires and its bytes leave the quota.
    std::thread::sleep(std::time::Duration::from_millis(2600));
    assert_eq!(status(&h2).offset, 0);
    assert_eq!(put(&h3, 0, 2_000_000, &jpeg(400_000, 2)).status, 200);
    assert_eq!(status(&h3).offset, 400_000);
}
