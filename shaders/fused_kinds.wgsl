// Included by fused_matvec.wgsl. mv_kinds and pre_kinds: op_matvec and pre_at called with a kind's
// MvK as constants, so its flags, layout and sizes fold at compile time.
// fused.py numbers the step's kinds of matvec 1..8 (C_KIND of their commands; fused.MAX_KINDS),
// defines MVK<i> for each kind it uses and fills {{MVK<i>}} with that kind's MvK fields as u32
// literals. Kind 0 (a matvec past the eighth kind) reads its fields from the table (mv_table).

fn mv_kinds(ci: u32, wg: u32, lid: u32, n_wg: u32, pre: Batch) {
    switch cw(ci, C_KIND) {
#ifdef MVK1
        case 1u: { op_matvec(ci, MvK({{MVK1}}), wg, lid, n_wg, pre); }
#endif
#ifdef MVK2
        case 2u: { op_matvec(ci, MvK({{MVK2}}), wg, lid, n_wg, pre); }
#endif
#ifdef MVK3
        case 3u: { op_matvec(ci, MvK({{MVK3}}), wg, lid, n_wg, pre); }
#endif
#ifdef MVK4
        case 4u: { op_matvec(ci, MvK({{MVK4}}), wg, lid, n_wg, pre); }
#endif
#ifdef MVK5
        case 5u: { op_matvec(ci, MvK({{MVK5}}), wg, lid, n_wg, pre); }
#endif
#ifdef MVK6
        case 6u: { op_matvec(ci, MvK({{MVK6}}), wg, lid, n_wg, pre); }
#endif
#ifdef MVK7
        case 7u: { op_matvec(ci, MvK({{MVK7}}), wg, lid, n_wg, pre); }
#endif
#ifdef MVK8
        case 8u: { op_matvec(ci, MvK({{MVK8}}), wg, lid, n_wg, pre); }
#endif
        default: { op_matvec(ci, mv_table(ci), wg, lid, n_wg, pre); }
    }
}

fn pre_kinds(ci: u32, wg: u32, lid: u32) -> PreAt {
    switch select(0u, cw(ci, C_KIND), cw(ci, C_OP) == OP_MATVEC) {
#ifdef MVK1
        case 1u: { return pre_at(ci, MvK({{MVK1}}), wg, lid); }
#endif
#ifdef MVK2
        case 2u: { return pre_at(ci, MvK({{MVK2}}), wg, lid); }
#endif
#ifdef MVK3
        case 3u: { return pre_at(ci, MvK({{MVK3}}), wg, lid); }
#endif
#ifdef MVK4
        case 4u: { return pre_at(ci, MvK({{MVK4}}), wg, lid); }
#endif
#ifdef MVK5
        case 5u: { return pre_at(ci, MvK({{MVK5}}), wg, lid); }
#endif
#ifdef MVK6
        case 6u: { return pre_at(ci, MvK({{MVK6}}), wg, lid); }
#endif
#ifdef MVK7
        case 7u: { return pre_at(ci, MvK({{MVK7}}), wg, lid); }
#endif
#ifdef MVK8
        case 8u: { return pre_at(ci, MvK({{MVK8}}), wg, lid); }
#endif
        default: { return pre_at(ci, mv_table(ci), wg, lid); }
    }
}
