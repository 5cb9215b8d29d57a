//! Every word the console shows, in one table: simplified Chinese (the default) and English.

/// The page language, from the `outpost_lang` cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-Hans",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-Hans" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The text of `key`; the key itself if the table lacks it (a test checks it never does
    /// for the keys the pages use).
    pub fn t(self, key: &str) -> &'static str {
        match TABLE.binary_search_by(|(k, _, _)| (*k).cmp(key)) {
            Ok(i) => match self {
                Lang::Zh => TABLE[i].1,
                Lang::En => TABLE[i].2,
            },
            Err(_) => {
                tracing::warn!(key, "console text missing");
                "?"
            }
        }
    }

    /// The label of a stored value (`category.waste`, `status.new`, …), or the value itself
    /// when this version does not know it (written by a newer app).
    pub fn label<'a>(self, group: &str, value: &'a str) -> std::borrow::Cow<'a, str> {
        let key = format!("{group}.{value}");
        match TABLE.binary_search_by(|(k, _, _)| (*k).cmp(key.as_str())) {
            Ok(i) => std::borrow::Cow::Borrowed(match self {
                Lang::Zh => TABLE[i].1,
                Lang::En => TABLE[i].2,
            }),
            Err(_) => std::borrow::Cow::Borrowed(value),
        }
    }
}

/// (key, zh-Hans, en), sorted by key (a test checks).
pub const TABLE: &[(&str, &str, &str)] = &[
    ("action.accept", "接单", "Accept"),
    ("action.cancel", "取消案件", "Cancel"),
    ("action.comment", "备注", "Comment"),
    ("action.dispatch", "派单", "Dispatch"),
    ("action.follow_up", "回访并结案", "Follow up and close"),
    ("action.progress", "记录进展", "Record progress"),
    ("action.reopen", "重新打开", "Reopen"),
    ("action.resolve", "办结", "Resolve"),
    ("action.withheld", "不可用", "Not available"),
    ("case.actions", "可执行的操作", "Actions"),
    ("case.address", "地址", "Address"),
    ("case.conflict", "冲突", "Conflict"),
    ("case.deadline", "期限", "Deadline"),
    ("case.description", "描述", "Description"),
    ("case.hours", "小时内", "hours"),
    ("case.location", "位置", "Location"),
    (
        "case.map",
        "本网格的案件示意图",
        "Sketch of this grid's cases",
    ),
    ("case.no_location", "没有位置", "No location"),
    ("case.note", "说明", "Note"),
    ("case.photos", "照片", "Photos"),
    ("case.reason", "原因", "Reason"),
    ("case.reporter", "上报人", "Reported by"),
    ("case.satisfaction", "满意度", "Satisfaction"),
    ("case.text", "内容", "Text"),
    ("case.timeline", "处置记录", "Timeline"),
    ("case.unit", "处置单位", "Responder unit"),
    ("case.visited", "回访时间", "Visited"),
    ("category.dispute", "矛盾纠纷", "Dispute"),
    ("category.drainage_oil", "排水/油污", "Drainage / oil"),
    ("category.facility_damage", "设施损坏", "Facility damage"),
    ("category.fire_hazard", "消防隐患", "Fire hazard"),
    ("category.gas_hazard", "燃气隐患", "Gas hazard"),
    (
        "category.illegal_construction",
        "违法搭建",
        "Illegal construction",
    ),
    ("category.illegal_parking", "违章停车", "Illegal parking"),
    ("category.noise", "噪音", "Noise"),
    ("category.other", "其他", "Other"),
    (
        "category.person_in_distress",
        "有人需要帮助",
        "Person in distress",
    ),
    ("category.waste", "垃圾", "Waste"),
    ("error.bad_request", "请求无效", "Bad request"),
    ("error.forbidden", "无权操作", "Not allowed"),
    ("error.not_found", "找不到该案件", "No such case"),
    ("event.accepted", "已接单", "accepted"),
    ("event.cancelled", "已取消", "cancelled"),
    ("event.comment", "备注", "comment"),
    ("event.created", "上报", "reported"),
    ("event.dispatched", "已派单", "dispatched"),
    ("event.edited", "已修改", "edited"),
    ("event.follow_up", "已回访", "follow-up"),
    ("event.moved", "移交其他网格", "moved to another grid"),
    ("event.photo_added", "添加照片", "photo added"),
    ("event.progress", "进展", "progress"),
    ("event.reopened", "重新打开", "reopened"),
    ("event.resolved", "已办结", "resolved"),
    ("fig.all", "合计", "All"),
    ("fig.csv", "导出 CSV", "Export CSV"),
    ("fig.grid", "网格", "Grid"),
    ("fig.median_resolve", "办结时长中位数", "Median resolution"),
    ("fig.median_response", "响应时长中位数", "Median response"),
    ("fig.open", "未办结", "Open"),
    ("fig.overdue", "逾期", "Overdue"),
    ("fig.overdue_rect", "逾期整改", "Overdue rectifications"),
    ("fig.reported", "上报", "Reported"),
    ("fig.resolution", "办结率", "Resolution rate"),
    ("fig.resolved", "办结", "Resolved"),
    ("fig.response", "按时响应率", "Response on time"),
    ("fig.satisfaction", "满意度", "Satisfaction"),
    ("fig.standard", "响应时限", "Response standard"),
    ("fig.title", "统计", "Figures"),
    ("fig.total", "案件数", "Cases"),
    ("fig.trend", "每周趋势", "Weekly trend"),
    ("fig.unit", "处置单位", "Unit"),
    ("fig.urgency", "紧急程度", "Urgency"),
    ("login.code", "一次性登录码", "One-time sign-in code"),
    (
        "login.failed",
        "登录失败：登录码或密码不正确、已使用或已过期。",
        "Sign-in failed: the code or password is wrong, used or expired.",
    ),
    ("login.member", "成员编号", "Member id"),
    (
        "login.no_role",
        "该成员没有工作站权限。",
        "This member has no workstation role.",
    ),
    (
        "login.or_password",
        "或使用管理员设置的密码",
        "or the password an administrator set",
    ),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Sign in"),
    ("login.title", "工作站登录", "Workstation sign-in"),
    (
        "login.too_many",
        "尝试次数过多，请稍后再试。",
        "Too many attempts; try again later.",
    ),
    ("nav.figures", "统计", "Figures"),
    ("nav.lang", "English", "中文"),
    ("nav.queue", "案件队列", "Queue"),
    ("nav.sign_out", "退出", "Sign out"),
    ("nav.title", "综合网格工作站", "Grid workstation"),
    ("queue.age", "时长", "Age"),
    ("queue.alert", "生命安全警报", "Life-safety flag"),
    ("queue.all", "全部", "All"),
    ("queue.category", "类别", "Category"),
    ("queue.empty", "没有符合条件的案件。", "No cases match."),
    ("queue.filter", "筛选", "Filter"),
    ("queue.grid", "网格", "Grid"),
    ("queue.open", "待办案件", "Open cases"),
    (
        "queue.overdue",
        "逾期整改与逾期案件",
        "Overdue rectifications and cases",
    ),
    ("queue.search", "搜索", "Search"),
    ("queue.status", "状态", "Status"),
    ("queue.title", "标题", "Title"),
    ("queue.unit", "单位", "Unit"),
    ("queue.urgency", "紧急程度", "Urgency"),
    ("role.admin", "管理员", "administrator"),
    ("role.courier", "骑手/志愿者", "courier"),
    ("role.grid_lead", "网格长", "grid lead"),
    ("role.grid_member", "网格员", "grid member"),
    ("role.responder", "处置人员", "responder"),
    ("status.accepted", "已接单", "Accepted"),
    ("status.cancelled", "已取消", "Cancelled"),
    ("status.closed", "已结案", "Closed"),
    ("status.dispatched", "已派单", "Dispatched"),
    ("status.in_progress", "处置中", "In progress"),
    ("status.new", "新上报", "New"),
    ("status.reopened", "重新打开", "Reopened"),
    ("status.resolved", "已办结", "Resolved"),
    ("urgency.life_safety", "生命安全", "Life-safety"),
    ("urgency.low", "低", "Low"),
    ("urgency.normal", "一般", "Normal"),
    ("urgency.urgent", "紧急", "Urgent"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_has_both_languages() {
        for w in TABLE.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
        for (k, zh, en) in TABLE {
            assert!(!zh.is_empty() && !en.is_empty(), "{k}");
        }
        assert_eq!(Lang::Zh.t("nav.queue"), "案件队列");
        assert_eq!(Lang::En.label("status", "new"), "New");
        assert_eq!(
            Lang::En.label("status", "from_the_future"),
            "from_the_future"
        );
    }

    #[test]
    fn every_value_core_knows_has_a_label() {
        use outpost_core::{Category, Status, Urgency};
        for c in Category::ALL {
            assert_ne!(Lang::Zh.label("category", c.as_str()), c.as_str());
        }
        for s in Status::ALL {
            assert_ne!(Lang::Zh.label("status", s.as_str()), s.as_str());
        }
        for u in Urgency::ALL {
            assert_ne!(Lang::Zh.label("urgency", u.as_str()), u.as_str());
        }
    }
}
