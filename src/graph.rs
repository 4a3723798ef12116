//! Strongly connected components of small dependence graphs, iteratively
//! (no recursion, so long chains cannot overflow the stack).

/// The strongly connected components of the graph with `edges[v]` the
/// successors of `v`, each component's members in ascending order. A
/// component comes after every component it reaches, so when edges point
/// from a node to what it depends on, dependencies come first.
pub fn sccs(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    const NONE: usize = usize::MAX;
    let mut index = vec![NONE; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for start in 0..n {
        if index[start] != NONE {
            continue;
        }
        // (node, position in its successor list)
        let mut work = vec![(start, 0usize)];
        index[start] = next;
        low[start] = next;
        next += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if let Some(&w) = edges[v].get(*pos) {
                *pos += 1;
                if w >= n {
                    continue;
                }
                if index[w] == NONE {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comp.sort_unstable();
                    out.push(comp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles_and_orders_dependencies_first() {
        // 0 -> 1 -> 2 -> 1, 3 alone, 4 -> 4
        let g = vec![vec![1], vec![2], vec![1], vec![], vec![4]];
        let c = sccs(&g);
        assert_eq!(c, vec![vec![1, 2], vec![0], vec![3], vec![4]]);
    }

    #[test]
    fn long_chains_do_not_recurse() {
        let n = 200_000;
        let g: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        let c = sccs(&g);
        assert_eq!(c.len(), n);
        assert_eq!(c[0], vec![n - 1]);
    }
}
