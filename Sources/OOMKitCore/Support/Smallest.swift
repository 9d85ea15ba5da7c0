extension Sequence where Element: Comparable {
    /// The `count` smallest elements, in ascending order: what `sorted().prefix(count)` gives, in one
    /// pass with a bounded max-heap (about one comparison per element once the heap is full), so that
    /// the first page of a large set costs no sort of the whole set.
    package func smallest(_ count: Int) -> [Element] {
        guard count > 0 else { return [] }
        var heap: [Element] = []  // a max-heap: heap[0] is the largest kept
        heap.reserveCapacity(Swift.min(count, underestimatedCount))
        for element in self {
            if heap.count < count {
                heap.append(element)
                var child = heap.count - 1
                while child > 0 {
                    let parent = (child - 1) / 2
                    guard heap[parent] < heap[child] else { break }
                    heap.swapAt(parent, child)
                    child = parent
                }
            } else if element < heap[0] {
                heap[0] = element
                var parent = 0
                while true {
                    let left = 2 * parent + 1
                    guard left < heap.count else { break }
                    let right = left + 1
                    let larger = right < heap.count && heap[left] < heap[right] ? right : left
                    guard heap[parent] < heap[larger] else { break }
                    heap.swapAt(parent, larger)
                    parent = larger
                }
            }
        }
        return heap.sorted()
    }
}
